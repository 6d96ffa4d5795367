# Checks the Homebrew formulae without Homebrew: loads each one against a small stand-in for
# Homebrew's Formula DSL, checks that `install` builds the crate of the same name with
# std_cargo_args, installs files that exist, and generates the man page and the bash, zsh and
# fish completions with the built binary (`<name> generate ...`), that the service runs
# `opt_bin/<name> run` with the configuration from etc, then runs the formula's `test do` block
# against built binaries.
#
#   ruby packaging/brew/check_formulae.rb BIN_DIR
#
# BIN_DIR holds ferrobeat-agent and ferrobeat-processor (e.g. a .deb unpacked into a scratch
# root). Exits 1 naming the formula and what is wrong.

require "json"
require "open3"
require "pathname"
require "tmpdir"

REPO = Pathname(__dir__).parent.parent.expand_path

# A directory formulae install into; records what they install.
class InstallDir < Pathname
  def install(*sources)
    sources.each do |source|
      raise "installs #{source}, which is not in the repository" unless (REPO/source).file?
    end
  end

  def /(other)
    InstallDir.new(super.to_s)
  end
end

# What a `service do` block declares.
class ServiceSpec
  attr_reader :command

  def initialize(formula)
    @formula = formula
  end

  def run(command) = @command = command.map(&:to_s)
  def keep_alive(**) = nil
  def working_dir(_) = nil
  def log_path(_) = nil
  def error_log_path(_) = nil
  def opt_bin = @formula.opt_bin
  def etc = @formula.etc
  def var = @formula.var
end

# The part of Homebrew's Formula these formulae use.
# Homebrew's Utils: the output of a command, failing when it fails.
module Utils
  def self.safe_popen_read(*command)
    output, status = Open3.capture2(*command.map(&:to_s))
    raise "`#{command.join(" ")}` exited #{status.exitstatus}" unless status.success?

    output
  end
end

class Formula
  class << self
    attr_reader :spec

    def inherited(subclass)
      super
      subclass.instance_variable_set(:@spec, { depends_on: [] })
    end

    %i[desc homepage license].each { |field| define_method(field) { |value| @spec[field] = value } }
    def head(url, **) = @spec[:head] = url
    def depends_on(dependency) = @spec[:depends_on] << dependency
    def uses_from_macos(*) = nil
    def service(&block) = @spec[:service] = block
    def test(&block) = @spec[:test] = block
  end

  attr_reader :bin, :etc, :var, :man1, :testpath, :commands, :completions

  def initialize(bin:, scratch:)
    @bin = Pathname(bin)
    @etc = InstallDir.new("#{scratch}/etc")
    @var = InstallDir.new("#{scratch}/var")
    @man1 = Pathname("#{scratch}/share/man/man1")
    @testpath = Pathname("#{scratch}/test")
    @commands = []
    @completions = {}
    [@etc, @var, @man1, @testpath].each(&:mkpath)
  end

  # As Homebrew's: runs `commands` followed by the shell's parameter for each shell; keeps the
  # scripts by shell. A String shell_parameter_format is a prefix of the shell's name.
  def generate_completions_from_executable(*commands, shells: %i[bash zsh fish], shell_parameter_format: nil, **)
    raise "shell_parameter_format #{shell_parameter_format.inspect} is not a String" \
      unless shell_parameter_format.is_a?(String)

    shells.each do |shell|
      @completions[shell] = Utils.safe_popen_read(*commands, "#{shell_parameter_format}#{shell}")
    end
  end

  def opt_bin = bin
  def prefix = Pathname("/usr/local/Cellar/#{self.class.name}")
  def std_cargo_args(path:) = ["--locked", "--root=#{prefix}", "--path=#{path}"]
  def system(*args) = @commands << args.map(&:to_s)

  def shell_output(command, expected_status = 0)
    output, status = Open3.capture2e(command)
    unless status.exitstatus == expected_status
      raise "`#{command}` exited #{status.exitstatus}, expected #{expected_status}:\n#{output}"
    end
    output
  end

  def assert_match(pattern, text)
    matched = pattern.is_a?(Regexp) ? pattern.match?(text) : text.include?(pattern)
    raise "expected #{pattern.inspect} in:\n#{text}" unless matched
  end

  def assert_equal(expected, actual)
    raise "expected #{expected.inspect}, got #{actual.inspect}" unless expected == actual
  end

  def assert_operator(left, operator, right)
    raise "expected #{left.inspect} #{operator} #{right.inspect}" unless left.public_send(operator, right)
  end
end

def check(file, bin_dir)
  name = File.basename(file, ".rb")
  load file
  klass = Object.const_get(name.split("-").map(&:capitalize).join)
  spec = klass.spec
  %i[desc homepage license head test service].each do |field|
    raise "declares no #{field}" unless spec[field]
  end
  raise "does not build with rust" unless spec[:depends_on].include?("rust" => :build)

  Dir.mktmpdir do |scratch|
    formula = klass.new(bin: bin_dir, scratch: scratch)
    Dir.chdir(REPO) { formula.install }
    cargo = formula.commands.find { |command| command.first(2) == %w[cargo install] }
    raise "install does not run `cargo install`" unless cargo
    crate = cargo.find { |arg| arg.start_with?("--path=") }&.delete_prefix("--path=")
    raise "cargo install has no std_cargo_args(path: ...)" unless crate && cargo.include?("--locked")
    unless (REPO/crate/"Cargo.toml").read.include?("name = \"#{name}\"")
      raise "builds #{crate}/, whose Cargo.toml has no binary #{name}"
    end
    %i[bash zsh fish].each do |shell|
      script = formula.completions[shell]
      raise "install generates no #{shell} completion" unless script
      raise "the #{shell} completion does not name #{name}" unless script.include?(name)
    end
    man = formula.man1/"#{name}.1"
    raise "install writes no man page #{man.basename}" unless man.file?
    raise "#{man.basename} is not a man page of #{name}" unless man.read.include?(".TH #{name} 1")
    formula.post_install if formula.respond_to?(:post_install)

    service = ServiceSpec.new(formula)
    service.instance_exec(&spec[:service])
    expected = [formula.opt_bin/name, "run", "--config", formula.etc/"#{name}.toml"].map(&:to_s)
    raise "service runs #{service.command.inspect}, expected #{expected.inspect} first" \
      unless service.command.first(4) == expected

    formula.instance_exec(&spec[:test])
  end
  puts "#{file}: OK (install, service, test do)"
  true
rescue StandardError, ScriptError => e
  warn "#{file}: #{e.message}"
  false
end

bin_dir = ARGV.fetch(0) { abort "usage: ruby #{$PROGRAM_NAME} BIN_DIR" }
results = Dir[File.join(__dir__, "*.rb")].sort.reject { |f| f == File.expand_path(__FILE__) }.map do |file|
  check(file, bin_dir)
end
abort "no formula found in #{__dir__}" if results.empty?
exit(results.all? ? 0 : 1)
