//! Both programs against a broker that speaks only mutual TLS (stunnel in front of Tansu, see
//! `TestKafka::start_tls`), configured the way docs/security.md tells operators to: through
//! `[kafka.properties]` in their configuration files, run as the real binaries.
//!
//! * With the right CA, a client certificate and hostname verification on, records go from
//!   the agent through the processor to the output topics.
//! * A wrong CA, an expired server certificate, a server certificate for another host name and
//!   a missing client certificate are each refused, and both programs say why.
//! * With SASL_SSL and SCRAM-SHA-512 (`TestKafka::start_tls_scram`) the same delivery works, the
//!   password is never printed, and a wrong password is refused.
//!
//! The certificates are made here, by rcgen, for each test run.

mod processor_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use ferrobeat_processor::config::ProcessorConfig;
use ferrobeat_tests::{TestKafka, TlsFiles};
use processor_support::{
    broker_pipeline, config_file_text, eventually, spawn_processor_binary, terminate,
    workspace_binary,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

const WAIT: Duration = Duration::from_secs(30);

/// A certificate authority made for the test.
struct Authority {
    issuer: Issuer<'static, KeyPair>,
    certificate: PathBuf,
}

impl Authority {
    fn new(dir: &Path, name: &str) -> Authority {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("ferrobeat test CA {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let certificate = dir.join(format!("{name}-ca.pem"));
        write(
            &certificate,
            &params.self_signed(&key).expect("CA certificate").pem(),
        );
        Authority {
            issuer: Issuer::new(params, key),
            certificate,
        }
    }

    /// A leaf certificate for `names`, signed by this CA and valid for `validity` (years, from
    /// 2000), written as `<file>.pem` and `<file>.key`; returns (certificate, key).
    fn issue(
        &self,
        dir: &Path,
        file: &str,
        names: &[&str],
        purpose: ExtendedKeyUsagePurpose,
        validity: (i32, i32),
    ) -> (PathBuf, PathBuf) {
        let names: Vec<String> = names.iter().map(|name| (*name).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, file);
        params.extended_key_usages = vec![purpose];
        params.not_before = rcgen::date_time_ymd(validity.0, 1, 1);
        params.not_after = rcgen::date_time_ymd(validity.1, 1, 1);
        let key = KeyPair::generate().expect("leaf key");
        let certificate = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        let (certificate_path, key_path) = (
            dir.join(format!("{file}.pem")),
            dir.join(format!("{file}.key")),
        );
        write(&certificate_path, &certificate.pem());
        write(&key_path, &key.serialize_pem());
        (certificate_path, key_path)
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
}

/// Valid from 2000 to 2100.
const VALID: (i32, i32) = (2000, 2100);
/// Expired at the start of 2001.
const EXPIRED: (i32, i32) = (2000, 2001);

/// The certificates of one test: the broker's CA, a CA nobody uses, and the client's identity.
struct Pki {
    dir: tempfile::TempDir,
    ca: Authority,
    other_ca: Authority,
    client: (PathBuf, PathBuf),
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("certificate dir");
        let ca = Authority::new(dir.path(), "broker");
        let other_ca = Authority::new(dir.path(), "other");
        let client = ca.issue(
            dir.path(),
            "client",
            &["ferrobeat-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            VALID,
        );
        Pki {
            dir,
            ca,
            other_ca,
            client,
        }
    }

    /// The listener's files with a server certificate for `names`, valid over `validity`.
    fn listener(&self, names: &[&str], validity: (i32, i32)) -> TlsFiles {
        let file = format!("server-{}-{}", names.join("+"), validity.1);
        let (server_certificate, server_key) = self.ca.issue(
            self.dir.path(),
            &file,
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
            validity,
        );
        TlsFiles {
            server_certificate,
            server_key,
            client_ca: self.ca.certificate.clone(),
            client_certificate: self.client.0.clone(),
            client_key: self.client.1.clone(),
        }
    }

    /// The `[kafka.properties]` of a client trusting `ca`, presenting the client certificate
    /// unless `with_certificate` is false, checking the broker's host name.
    fn properties(&self, ca: &Authority, with_certificate: bool) -> Vec<(String, String)> {
        let text = |path: &Path| path.to_str().expect("UTF-8 path").to_owned();
        let mut properties = vec![
            ("security.protocol", "SSL".to_owned()),
            ("ssl.ca.location", text(&ca.certificate)),
            ("ssl.endpoint.identification.algorithm", "https".to_owned()),
        ];
        if with_certificate {
            properties.push(("ssl.certificate.location", text(&self.client.0)));
            properties.push(("ssl.key.location", text(&self.client.1)));
        }
        properties
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .collect()
    }
}

/// The agent's configuration file: cpu and memory every 500 ms to `topic`.
fn agent_config_text(
    bootstrap: &str,
    topic: &str,
    data_dir: &Path,
    properties: &[(String, String)],
) -> String {
    let properties: String = properties
        .iter()
        .map(|(name, value)| format!("{name:?} = {value:?}\n"))
        .collect();
    format!(
        "data_dir = {data_dir:?}\noutput = \"kafka\"\n[collect]\nperiod = \"500ms\"\n\
         metricsets = [\"cpu\", \"memory\"]\n[kafka]\nbootstrap_servers = {bootstrap:?}\n\
         topic = {topic:?}\nlinger = \"20ms\"\ndelivery_timeout = \"5s\"\n\
         [kafka.properties]\n\"broker.address.family\" = \"v4\"\n{properties}",
    )
}

/// The processor's configuration for `config` with `properties` added.
fn processor_config_text(config: &ProcessorConfig, properties: &[(String, String)]) -> String {
    let mut config = config.clone();
    config.kafka.properties.extend(properties.iter().cloned());
    config_file_text(&config)
}

/// `ferrobeat-agent test output` on `config_file`.
fn agent_test_output(config_file: &Path) -> Output {
    Command::new(workspace_binary("ferrobeat-agent"))
        .arg("--config")
        .arg(config_file)
        .args(["test", "output"])
        .stdin(Stdio::null())
        .output()
        .expect("run ferrobeat-agent test output")
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

// Spawns the agent as processor_support's endpoint helper does, with this test's TLS configuration.
#[test]
fn both_programs_deliver_over_mutual_tls_with_hostname_verification() {
    let pki = Pki::new();
    let kafka = TestKafka::start_tls(&pki.listener(&["127.0.0.1", "localhost"], VALID))
        .expect("broker behind TLS");
    deliver_end_to_end(&kafka, &pki.properties(&pki.ca, true));
}

/// The password of the programs' SCRAM user.
const PASSWORD: &str = "scram-secret-do-not-print";

/// SASL_SSL with SCRAM-SHA-512 on top of mutual TLS: both programs log in and deliver, the
/// password never shows in what they print, and a wrong password is refused, saying so.
#[test]
fn both_programs_deliver_over_sasl_scram_and_a_wrong_password_is_refused() {
    let pki = Pki::new();
    let kafka = TestKafka::start_tls_scram(
        &pki.listener(&["127.0.0.1", "localhost"], VALID),
        &[("harness", "harness-secret"), ("ferrobeat", PASSWORD)],
    )
    .expect("broker behind TLS with SCRAM");
    let sasl = |password: &str| {
        let mut properties = pki.properties(&pki.ca, true);
        properties[0].1 = "SASL_SSL".to_owned();
        properties.extend(
            [
                ("sasl.mechanisms", "SCRAM-SHA-512"),
                ("sasl.username", "ferrobeat"),
                ("sasl.password", password),
            ]
            .map(|(name, value)| (name.to_owned(), value.to_owned())),
        );
        properties
    };
    let logs = deliver_end_to_end(&kafka, &sasl(PASSWORD));
    assert!(!logs.contains(PASSWORD), "the password is printed:\n{logs}");

    let topic = kafka.unique_topic("scram-refused");
    kafka.create_topic(&topic, 1).expect("topic");
    let dir = tempfile::tempdir().expect("scratch dir");
    let agent_file = dir.path().join("agent.toml");
    let wrong = "not-the-password";
    write(
        &agent_file,
        &agent_config_text(
            kafka.bootstrap_servers(),
            &topic,
            &dir.path().join("data"),
            &sasl(wrong),
        ),
    );
    let check = agent_test_output(&agent_file);
    let report = text(&check);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(
        report.contains("SASL SCRAM authentication failed"),
        "the agent does not say why:\n{report}"
    );
    assert!(
        !report.contains(wrong),
        "the password is printed:\n{report}"
    );
}

/// Runs the agent and the processor with `properties` on `kafka` until the processor has
/// routed two cpu and two memory events the agent wrote, stops both with SIGTERM (they exit
/// 0) and checks the routed records are the agent's; returns both programs' logs.
fn deliver_end_to_end(kafka: &TestKafka, properties: &[(String, String)]) -> String {
    let config = broker_pipeline(kafka, "tls", 1);
    let properties = properties.to_vec();
    let dir = tempfile::tempdir().expect("scratch dir");
    let agent_file = dir.path().join("agent.toml");
    write(
        &agent_file,
        &agent_config_text(
            kafka.bootstrap_servers(),
            &config.topology.input_topic,
            &dir.path().join("data"),
            &properties,
        ),
    );

    let check = agent_test_output(&agent_file);
    assert!(check.status.success(), "{}", text(&check));

    let processor_file = dir.path().join("processor.toml");
    write(
        &processor_file,
        &processor_config_text(&config, &properties),
    );
    let (processor_log, agent_log) = (
        dir.path().join("processor.log"),
        dir.path().join("agent.log"),
    );
    let mut processor = spawn_processor_binary(
        &workspace_binary("ferrobeat-processor"),
        &processor_file,
        &processor_log,
    );
    let mut agent = Command::new(workspace_binary("ferrobeat-agent"))
        .arg("--config")
        .arg(&agent_file)
        .arg("run")
        .env("FERROBEAT_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&agent_log).expect("agent log"))
        .spawn()
        .expect("spawn the agent");
    let logs = || {
        format!(
            "--- agent ---\n{}\n--- processor ---\n{}",
            std::fs::read_to_string(&agent_log).unwrap_or_default(),
            std::fs::read_to_string(&processor_log).unwrap_or_default()
        )
    };

    // The processor routes what the agent sampled: two cpu and two memory events through.
    let routed = |topic: &str| {
        kafka
            .read_topic(topic, 2, Duration::from_secs(1))
            .expect("read output")
    };
    let delivered = eventually(WAIT, || {
        routed(&config.topology.cpu_topic).len() >= 2
            && routed(&config.topology.memory_topic).len() >= 2
    });
    let agent_exit = terminate(&mut agent, WAIT);
    let processor_exit = terminate(&mut processor, WAIT);
    assert!(
        delivered,
        "nothing routed over TLS within {WAIT:?}\n{}",
        logs()
    );
    assert!(
        agent_exit.is_some_and(|exit| exit.success()),
        "agent {agent_exit:?}\n{}",
        logs()
    );
    assert!(
        processor_exit.is_some_and(|exit| exit.success()),
        "processor {processor_exit:?}\n{}",
        logs()
    );
    let inputs: Vec<_> = kafka
        .read_topic(&config.topology.input_topic, 4, Duration::from_secs(5))
        .expect("read input")
        .into_iter()
        .map(|record| record.value)
        .collect();
    for topic in [&config.topology.cpu_topic, &config.topology.memory_topic] {
        for record in routed(topic) {
            assert!(
                inputs.contains(&record.value),
                "{topic} holds a record the agent did not write"
            );
        }
    }
    format!("{}\n{}", text(&check), logs())
}

/// How a refused connection shows: what the programs log (librdkafka's reason) and the alert
/// the listener's log shows (which names the precise reason: librdkafka reports every failed
/// certificate verification as "certificate verify failed").
struct Refusal {
    programs_say: &'static str,
    listener_says: &'static str,
}

/// Runs both programs against a broker whose listener shows a certificate for `names`, valid
/// over `validity`, with `properties`: `ferrobeat-agent test output` fails at the connect step
/// and exits 1, the agent and the processor log `refusal.programs_say`, and the listener logs
/// `refusal.listener_says`. The processor keeps retrying (it waits for the broker to be fixed)
/// and stops on SIGTERM.
fn refused(
    pki: &Pki,
    names: &[&str],
    validity: (i32, i32),
    properties: &[(String, String)],
    refusal: Refusal,
) {
    let kafka = TestKafka::start_tls(&pki.listener(names, validity)).expect("broker behind TLS");
    let config = broker_pipeline(&kafka, "tls-refused", 1);
    let dir = tempfile::tempdir().expect("scratch dir");
    let processor_file = dir.path().join("processor.toml");
    write(&processor_file, &processor_config_text(&config, properties));
    let log = dir.path().join("processor.log");
    // The processor first: it retries while the agent's check runs out its connect timeout.
    let mut processor = spawn_processor_binary(
        &workspace_binary("ferrobeat-processor"),
        &processor_file,
        &log,
    );
    let agent_file = dir.path().join("agent.toml");
    write(
        &agent_file,
        &agent_config_text(
            kafka.bootstrap_servers(),
            &config.topology.input_topic,
            &dir.path().join("data"),
            properties,
        ),
    );
    let check = agent_test_output(&agent_file);
    let read_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let processor_said = eventually(WAIT, || read_log().contains(refusal.programs_say));
    let exit = terminate(&mut processor, WAIT);
    let listener_log = kafka.tls_listener_log().unwrap_or_default();

    let report = text(&check);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{report}");
    assert!(
        stdout
            .lines()
            .any(|line| line.starts_with("connect") && line.contains("FAIL")),
        "the check fails at the connect step:\n{report}"
    );
    assert!(
        String::from_utf8_lossy(&check.stderr).contains(refusal.programs_say),
        "the agent does not say {:?}:\n{report}",
        refusal.programs_say
    );
    assert!(
        processor_said,
        "the processor does not say {:?}:\n{}",
        refusal.programs_say,
        read_log()
    );
    assert!(
        exit.is_some(),
        "the processor did not stop on SIGTERM:\n{}",
        read_log()
    );
    assert!(
        listener_log.contains(refusal.listener_says),
        "the listener does not say {:?}:\n{listener_log}",
        refusal.listener_says
    );
}

/// What librdkafka logs when it refuses the broker's certificate, whatever the reason.
const VERIFY_FAILED: &str = "certificate verify failed";

// Each refusal case is its own test (own name, own failure); `refused` holds what they share.
#[test]
fn a_broker_certificate_from_another_ca_is_refused() {
    let pki = Pki::new();
    let properties = pki.properties(&pki.other_ca, true);
    let refusal = Refusal {
        programs_say: VERIFY_FAILED,
        listener_says: "alert unknown ca",
    };
    refused(
        &pki,
        &["127.0.0.1", "localhost"],
        VALID,
        &properties,
        refusal,
    );
}

#[test]
fn an_expired_broker_certificate_is_refused() {
    let pki = Pki::new();
    let properties = pki.properties(&pki.ca, true);
    let refusal = Refusal {
        programs_say: VERIFY_FAILED,
        listener_says: "alert certificate expired",
    };
    refused(
        &pki,
        &["127.0.0.1", "localhost"],
        EXPIRED,
        &properties,
        refusal,
    );
}

/// The certificate is valid and from the right CA, but for another name than the address the
/// programs connect to (`127.0.0.1`): only the host name check refuses it.
#[test]
fn a_broker_certificate_for_another_host_is_refused() {
    let pki = Pki::new();
    let properties = pki.properties(&pki.ca, true);
    let refusal = Refusal {
        programs_say: VERIFY_FAILED,
        listener_says: "alert bad certificate",
    };
    refused(&pki, &["kafka.elsewhere.test"], VALID, &properties, refusal);

    // The same certificate passes without the host name check: that check is what refused it.
    let kafka = TestKafka::start_tls(&pki.listener(&["kafka.elsewhere.test"], VALID))
        .expect("broker behind TLS");
    let topic = kafka.unique_topic("tls-no-hostname-check");
    kafka.create_topic(&topic, 1).expect("topic");
    let mut properties = properties;
    for (name, value) in &mut properties {
        if name == "ssl.endpoint.identification.algorithm" {
            *value = "none".to_owned();
        }
    }
    let dir = tempfile::tempdir().expect("scratch dir");
    let agent_file = dir.path().join("agent.toml");
    write(
        &agent_file,
        &agent_config_text(
            kafka.bootstrap_servers(),
            &topic,
            &dir.path().join("data"),
            &properties,
        ),
    );
    let check = agent_test_output(&agent_file);
    assert!(check.status.success(), "{}", text(&check));
}

/// Mutual TLS is enforced: the broker refuses a client that shows no certificate.
#[test]
fn a_client_without_a_certificate_is_refused() {
    let pki = Pki::new();
    let properties = pki.properties(&pki.ca, false);
    let refusal = Refusal {
        programs_say: "alert certificate required",
        listener_says: "peer did not return a certificate",
    };
    refused(
        &pki,
        &["127.0.0.1", "localhost"],
        VALID,
        &properties,
        refusal,
    );
}
