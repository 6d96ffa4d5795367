# Homebrew formula of the ferrobeat agent, built from source. Install from a checkout with
#   brew install --HEAD ./packaging/brew/ferrobeat-agent.rb
# A release adds `url` (the tag's source archive) and its `sha256` above `head`.
class FerrobeatAgent < Formula
  desc "Host-metrics agent: Metricbeat 8.x JSON to Kafka, at least once"
  homepage "https://example.invalid/ferrobeat"
  license "Apache-2.0"
  head "https://example.invalid/ferrobeat.git", branch: "main"

  depends_on "pkgconf" => :build
  depends_on "rust" => :build
  depends_on "openssl@3"

  uses_from_macos "zlib"

  def install
    # The agent's size-optimised profile (fat LTO, opt-level "s"); the Linux package's further
    # steps (static OpenSSL, librdkafka's C flags) are in packaging/build-agent.sh.
    system "cargo", "install", "--profile", "release-agent", *std_cargo_args(path: "agent")
    etc.install "agent/ferrobeat-agent.toml"
    # The man page and the completions come from the binary's own command line definitions.
    generate_completions_from_executable(bin/"ferrobeat-agent", "generate", shell_parameter_format: "complete-")
    (man1/"ferrobeat-agent.1").write Utils.safe_popen_read(bin/"ferrobeat-agent", "generate", "man")
  end

  def post_install
    (var/"lib/ferrobeat-agent").mkpath
    (var/"log").mkpath
  end

  def caveats
    <<~EOS
      Set kafka.bootstrap_servers in #{etc}/ferrobeat-agent.toml, then
        brew services start ferrobeat-agent
      The agent keeps its id and its spool in #{var}/lib/ferrobeat-agent.
    EOS
  end

  service do
    run [opt_bin/"ferrobeat-agent", "run",
         "--config", etc/"ferrobeat-agent.toml",
         "--data-dir", var/"lib/ferrobeat-agent"]
    keep_alive crashed: true
    working_dir var/"lib/ferrobeat-agent"
    log_path var/"log/ferrobeat-agent.log"
    error_log_path var/"log/ferrobeat-agent.log"
  end

  test do
    assert_match(/^ferrobeat-agent \d+\.\d+\.\d+/, shell_output("#{bin}/ferrobeat-agent --version"))

    (testpath/"agent.toml").write <<~TOML
      data_dir = "#{testpath}/data"
      output = "stdout"
    TOML
    assert_match "Config OK", shell_output("#{bin}/ferrobeat-agent test config -c #{testpath}/agent.toml")

    events = shell_output("#{bin}/ferrobeat-agent once -c #{testpath}/agent.toml").lines.map do |line|
      JSON.parse(line)
    end
    assert_equal %w[cpu memory], events.map { |event| event["metricset"]["name"] }.sort
    assert_operator events.first["system"].to_s.length, :>, 0
  end
end
