#!/usr/bin/env bash
# Builds both Debian packages and checks everything packaging/ ships, failing loudly:
#
#   * each .deb: dpkg-deb --info/--contents, the files, modes and conffiles it must hold (the
#     man page and bash, zsh and fish completions included), lintian;
#   * unpacked into a scratch root: `--version` of each binary, and each unit's ExecStartPre
#     (the configuration check) against the packaged default configuration;
#   * the systemd units: `systemd-analyze verify` (any complaint fails) and
#     `systemd-analyze security --offline` with an exposure of at most 2.0;
#   * as root, when neither package is installed yet: install both, check the service users and
#     that the configuration is readable by its service user and nobody else, then purge;
#     FERROBEAT_PACKAGING_INSTALL_TEST=0 skips this;
#   * the Homebrew formulae: `ruby -c`, then their install/service/test blocks (check_formulae.rb);
#   * the Prometheus alerting rules: `promtool check rules` and their unit tests
#     (`promtool test rules`); the Grafana dashboards parse as JSON;
#   * the Kafka compose file: parses and is consistent (check_compose.py).
#
# Idempotent; installs what it lacks: cargo-deb (cached in ~/.cargo/bin by build-debs.sh), and
# lintian, ruby and python3-yaml through apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$SECONDS
step() { printf '\n=== packaging: %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
fail() {
    echo "packaging check FAILED: $*" >&2
    exit 1
}

scratch=$(mktemp -d)
installed_here=()
cleanup() {
    if ((${#installed_here[@]})); then
        dpkg --purge "${installed_here[@]}" >/dev/null || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT

step "tools"
apt_install() {
    [[ $EUID -eq 0 ]] || fail "missing Debian packages $*; install them (apt-get needs root)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "$@"; then
        apt-get update
        apt-get install -y --no-install-recommends "$@"
    fi
}
missing=()
command -v lintian >/dev/null || missing+=(lintian)
command -v ruby >/dev/null || missing+=(ruby)
command -v systemd-analyze >/dev/null || missing+=(systemd)
python=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
    python=/usr/bin/python3
    /usr/bin/python3 -c 'import yaml' 2>/dev/null || missing+=(python3-yaml)
fi
if ((${#missing[@]})); then
    apt_install "${missing[@]}"
fi
systemd-analyze --version | head -n 1
lintian --version
ruby --version

step "build the .deb packages"
# The shipped agent must have its code laid out by use (packaging/agent.order, x86-64 Linux):
# a stale order fails here rather than costing every agent 2.4 MiB unnoticed.
export FERROBEAT_REQUIRE_AGENT_ORDER=1
mapfile -t debs < <(bash packaging/build-debs.sh "$scratch/debs")
((${#debs[@]} == 2)) || fail "build-debs.sh made ${#debs[@]} packages, expected 2: ${debs[*]}"

root="$scratch/root"
units="$scratch/units"
mkdir -p "$root" "$units"
for deb in "${debs[@]}"; do
    package=$(dpkg-deb --field "$deb" Package)
    version=$(dpkg-deb --field "$deb" Version)
    step "$package $version: dpkg-deb --info / --contents"
    dpkg-deb --info "$deb"
    dpkg-deb --contents "$deb" | tee "$scratch/$package.contents"

    # Mode and path of every file that must be there.
    for expected in \
        "-rwxr-xr-x ./usr/bin/$package" \
        "-rw-r----- ./etc/$package/$package.toml" \
        "-rw-r--r-- ./usr/lib/systemd/system/$package.service" \
        "-rw-r--r-- ./usr/share/doc/$package/copyright" \
        "-rw-r--r-- ./usr/share/doc/$package/changelog.Debian.gz" \
        "-rw-r--r-- ./usr/share/doc/$package/README.Debian" \
        "-rw-r--r-- ./usr/share/lintian/overrides/$package" \
        "-rw-r--r-- ./usr/share/man/man1/$package.1.gz" \
        "-rw-r--r-- ./usr/share/bash-completion/completions/$package" \
        "-rw-r--r-- ./usr/share/zsh/vendor-completions/_$package" \
        "-rw-r--r-- ./usr/share/fish/vendor_completions.d/$package.fish"; do
        awk -v want="$expected" '$1 " " $6 == want && $2 == "0/0" { found = 1 } END { exit !found }' \
            "$scratch/$package.contents" || fail "$deb lacks $expected (owned by root)"
    done
    control="$scratch/control-$package"
    dpkg-deb --control "$deb" "$control"
    grep -qx "/etc/$package/$package.toml" "$control/conffiles" ||
        fail "$deb: /etc/$package/$package.toml is not a conffile"
    dpkg-deb --field "$deb" Depends | grep -qw adduser || fail "$deb does not depend on adduser"
    for script in postinst postrm; do
        [[ -x "$control/$script" ]] || fail "$deb has no executable $script"
        sh -n "$control/$script" || fail "$deb: $script is not valid sh"
    done

    step "$package: lintian"
    lintian --fail-on error,warning "$deb" || fail "lintian found problems in $deb"

    step "$package: unpacked into a scratch root"
    dpkg-deb --extract "$deb" "$root"
    # Packed relocations (packaging/build-agent.sh) need glibc 2.36, which dpkg-shlibdeps does
    # not infer from the GLIBC_ABI_DT_RELR version need: the package must declare it.
    if readelf -V "$root/usr/bin/$package" | grep -q GLIBC_ABI_DT_RELR; then
        dpkg-deb --field "$deb" Depends | grep -q 'libc6 (>= 2\.36)' ||
            fail "$package uses packed relocations (glibc 2.36) but $deb does not depend on libc6 (>= 2.36)"
        echo "packed relocations: depends on libc6 (>= 2.36): OK"
    fi
    reported=$("$root/usr/bin/$package" --version)
    echo "$reported"
    [[ "$reported" == "$package ${version%-*}" ]] ||
        fail "$package --version says '$reported', expected '$package ${version%-*}'"

    # The man page and the completions are the binary's own.
    zcat "$root/usr/share/man/man1/$package.1.gz" | grep -q "^\.TH $package 1" ||
        fail "$package.1.gz is not the man page of $package"
    completion="$root/usr/share/bash-completion/completions/$package"
    bash -c 'source "$1" && complete -p "$2"' _ "$completion" "$package" >/dev/null ||
        fail "$completion does not register a bash completion for $package"
    grep -q "^#compdef $package" "$root/usr/share/zsh/vendor-completions/_$package" ||
        fail "_$package is not a zsh completion of $package"
    grep -q "complete -c $package" "$root/usr/share/fish/vendor_completions.d/$package.fish" ||
        fail "$package.fish is not a fish completion of $package"
    echo "man page and bash, zsh, fish completions: OK"

    # The unit with its paths resolved inside the scratch root.
    sed -e "s|=/usr/bin/|=$root/usr/bin/|" -e "s| /etc/$package/| $root/etc/$package/|g" \
        "$root/usr/lib/systemd/system/$package.service" >"$units/$package.service"
    read -ra pre_command < <(sed -n 's/^ExecStartPre=//p' "$units/$package.service")
    ((${#pre_command[@]})) || fail "$package.service has no ExecStartPre"
    echo "ExecStartPre: ${pre_command[*]}"
    "${pre_command[@]}" >/dev/null || fail "$package.service's ExecStartPre refuses the packaged configuration"
done

step "systemd units: systemd-analyze verify and security"
for unit in "$units"/*.service; do
    complaints=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $complaints"
    [[ -z "$complaints" ]] || fail "systemd-analyze verify $(basename "$unit"): $complaints"
    echo "$(basename "$unit"): verify OK"
    # --threshold is ten times the displayed exposure: 20 means 2.0.
    exposure=$(systemd-analyze security --offline=true --threshold=20 "$unit" 2>&1 | tail -n 1) ||
        fail "$(basename "$unit") is exposed above 2.0: $exposure"
    echo "$exposure"
done

step "install, check the service users and permissions, purge"
if [[ "${FERROBEAT_PACKAGING_INSTALL_TEST:-1}" == 0 ]]; then
    echo "skipped: FERROBEAT_PACKAGING_INSTALL_TEST=0"
elif [[ $EUID -ne 0 ]]; then
    echo "skipped: installing needs root"
elif dpkg-query --show --showformat='${Status}\n' ferrobeat-agent ferrobeat-processor 2>/dev/null |
    grep -q "installed"; then
    echo "skipped: a ferrobeat package is already installed on this machine; not touching it"
else
    installed_here=(ferrobeat-agent ferrobeat-processor)
    dpkg --install "${debs[@]}"
    for package in "${installed_here[@]}"; do
        config="/etc/$package/$package.toml"
        getent passwd "$package" >/dev/null || fail "postinst did not create the user $package"
        [[ "$(stat -c '%U:%G %a' "/etc/$package")" == "root:$package 750" ]] ||
            fail "/etc/$package is $(stat -c '%U:%G %a' "/etc/$package"), expected root:$package 750"
        [[ "$(stat -c '%U:%G %a' "$config")" == "root:$package 640" ]] ||
            fail "$config is $(stat -c '%U:%G %a' "$config"), expected root:$package 640"
        read -ra pre_command < <(sed -n 's/^ExecStartPre=//p' "/usr/lib/systemd/system/$package.service")
        runuser -u "$package" -- "${pre_command[@]}" >/dev/null ||
            fail "$package cannot check its own configuration as its service user"
        if runuser -u nobody -- cat "$config" >/dev/null 2>&1; then
            fail "$config is readable by other users"
        fi
        echo "$package: user $package, $config root:$package 640, readable by the service only"
    done
    dpkg --purge "${installed_here[@]}"
    installed_here=()
    for package in ferrobeat-agent ferrobeat-processor; do
        [[ ! -e "/etc/$package" ]] || fail "purging $package left /etc/$package"
        [[ -z "$(dpkg-statoverride --list "/etc/$package*")" ]] || fail "purging $package left stat overrides"
    done
    echo "purged: no configuration or stat override left"
fi

step "Homebrew formulae"
for formula in packaging/brew/ferrobeat-*.rb; do
    ruby -c "$formula" >/dev/null || fail "$formula is not valid Ruby"
    echo "$formula: ruby -c OK"
done
ruby packaging/brew/check_formulae.rb "$root/usr/bin" || fail "a Homebrew formula does not hold"

step "Prometheus rules and Grafana dashboards"
promtool=$(bash tests/install-promtool.sh) || fail "promtool cannot be installed"
"$promtool" check rules packaging/prometheus/rules.yml || fail "packaging/prometheus/rules.yml does not hold"
"$promtool" test rules packaging/prometheus/rules_test.yml || fail "an alerting rule does not fire as its test expects"
for dashboard in packaging/grafana/*.json; do
    "$python" -m json.tool "$dashboard" >/dev/null || fail "$dashboard is not valid JSON"
    echo "$dashboard: JSON OK"
done

step "Kafka cluster recipe"
"$python" packaging/kafka/check_compose.py || fail "packaging/kafka/compose.yaml does not hold"

step "done"
echo "packaging checks passed in $((SECONDS - started)) s"
