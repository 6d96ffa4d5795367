# Homebrew formula of the ferrobeat stream processor, built from source. Install from a checkout with
#   brew install --HEAD ./packaging/brew/ferrobeat-processor.rb
# A release adds `url` (the tag's source archive) and its `sha256` above `head`.
class FerrobeatProcessor < Formula
  desc "Kafka stream processor routing Metricbeat events and raising hot-CPU alerts"
  homepage "https://example.invalid/ferrobeat"
  license "Apache-2.0"
  head "https://example.invalid/ferrobeat.git", branch: "main"

  depends_on "pkgconf" => :build
  depends_on "rust" => :build
  depends_on "openssl@3"

  uses_from_macos "zlib"

  def install
    system "cargo", "install", *std_cargo_args(path: "processor")
    etc.install "processor/ferrobeat-processor.toml"
    # The man page and the completions come from the binary's own command line definitions.
    generate_completions_from_executable(bin/"ferrobeat-processor", "generate", shell_parameter_format: "complete-")
    (man1/"ferrobeat-processor.1").write Utils.safe_popen_read(bin/"ferrobeat-processor", "generate", "man")
  end

  def post_install
    (var/"log").mkpath
  end

  def caveats
    <<~EOS
      Set kafka.bootstrap_servers in #{etc}/ferrobeat-processor.toml, create the topics with
        ferrobeat-processor setup -c #{etc}/ferrobeat-processor.toml
      then
        brew services start ferrobeat-processor
    EOS
  end

  service do
    run [opt_bin/"ferrobeat-processor", "run", "--config", etc/"ferrobeat-processor.toml"]
    keep_alive crashed: true
    log_path var/"log/ferrobeat-processor.log"
    error_log_path var/"log/ferrobeat-processor.log"
  end

  test do
    assert_match(/^ferrobeat-processor \d+\.\d+\.\d+/, shell_output("#{bin}/ferrobeat-processor --version"))

    (testpath/"processor.toml").write <<~TOML
      [topology]
      input_topic = "test.all"
    TOML
    description = shell_output("#{bin}/ferrobeat-processor describe -c #{testpath}/processor.toml")
    assert_match "Source: KSTREAM-SOURCE-0000000000 (topics: [test.all])", description
    assert_match "metric.cpu.alert", description
  end
end
