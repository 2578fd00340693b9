#!/usr/bin/env bash
# Installs or upgrades Floorgate on a gateway (agent) or a hub server, where the systemd units in
# deploy/systemd/ expect it: code and virtual environment in /opt/floorgate, config in
# /etc/floorgate/, data in /var/lib/floorgate, system user `floorgate`.
#
#   sudo deploy/install.sh agent|hub [--root DIR] [--no-start]
#
# Run it from a checkout or an unpacked release tree. Re-running it upgrades in place: new code
# and dependencies; configs in /etc/floorgate and data in /var/lib/floorgate are kept.
# See docs/install.md.
set -euo pipefail

# The uv that installs the dependencies pinned in uv.lock: the same version as UV_VERSION in the
# Makefile (tests/deploy/test_install.py checks that the two agree).
readonly UV_VERSION=0.13.8
readonly MIN_PYTHON=3.11

usage() {
    cat <<'EOF'
usage: sudo deploy/install.sh agent|hub [--root DIR] [--no-start]

  agent|hub    the role of this machine: which systemd unit and example config to install
  --root DIR   install under DIR instead of / (a staging tree): no system user, no systemctl,
               no ownership changes; the virtual environment refers to its paths under DIR
  --no-start   do not restart the role's service when it is already running (an upgrade
               otherwise restarts it so the new code runs); a first install never starts it

Environment: PYTHON=/path/to/python3.11 to use another interpreter than python3;
UV=/path/to/uv to use that uv (same version as pinned here) instead of installing one from PyPI.
EOF
}

die() {
    printf 'install.sh: error: %s\n' "$*" >&2
    exit 1
}

current_step="starting"
step() {
    current_step=$1
    printf '==> %s\n' "$1"
}
# set -e stops at the first failing command; say which step it was part of.
on_error() {
    local status=$?
    printf 'install.sh: error: failed while %s (exit %s)\n' "$current_step" "$status" >&2
}
trap on_error ERR

role=""
root=""
restart_running=1
while (($# > 0)); do
    case $1 in
    agent | hub)
        if [[ -n $role ]]; then
            usage >&2
            die "the role is given twice ($role and $1)"
        fi
        role=$1
        ;;
    --root)
        if (($# < 2)) || [[ -z $2 ]]; then die "--root needs a directory"; fi
        root=$2
        shift
        ;;
    --root=*)
        root=${1#--root=}
        [[ -n $root ]] || die "--root needs a directory"
        ;;
    --no-start) restart_running=0 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        usage >&2
        die "unknown argument '$1': the role is agent or hub"
        ;;
    esac
    shift
done
if [[ -z $role ]]; then
    usage >&2
    die "missing the role: agent or hub"
fi

# The tree this script belongs to: the source of everything installed.
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
for needed in pyproject.toml uv.lock README.md protocols edge_agent hub floorgate \
    "deploy/systemd/floorgate-$role.service" "deploy/examples/$role.yaml"; do
    [[ -e $src/$needed ]] || die "$src is not a complete Floorgate tree: $needed is missing"
done

live=1
if [[ -n $root ]]; then
    mkdir -p -- "$root" || die "cannot create --root $root"
    root=$(cd -- "$root" && pwd)
    [[ $root != / ]] || die "--root / is the live system: leave --root out"
    live=0
elif ((EUID != 0)); then
    die "run it as root: sudo $0 $role"
fi

dest=$root/opt/floorgate
conf_dir=$root/etc/floorgate
conf=$conf_dir/$role.yaml
unit_dir=$root/etc/systemd/system
unit=floorgate-$role
data_dir=$root/var/lib/floorgate

# The service runs as `floorgate` and must read the code whatever umask the operator has.
umask 022

step "checking Python (>= $MIN_PYTHON)"
python=${PYTHON:-python3}
command -v "$python" >/dev/null ||
    die "$python not found: install Python >= $MIN_PYTHON (Debian, Raspberry Pi OS: apt-get install python3 python3-venv)"
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
    die "Floorgate needs Python >= $MIN_PYTHON; $python is $("$python" -V 2>&1). Install a newer one and run again with PYTHON=/path/to/python3.11 (or newer)"
# Pinned to the interpreter's real path, so the environment survives PATH changes.
python=$("$python" -c 'import sys; print(sys.executable)')
# uv.lock pins prebuilt wheels for 64-bit Linux only; on a 32-bit system duckdb and others would
# have to be compiled from source (hours on a Raspberry Pi, if it works at all).
[[ $("$python" -c 'import struct; print(struct.calcsize("P") * 8)') == 64 ]] ||
    die "$python is a 32-bit build: Floorgate needs a 64-bit OS (on a Raspberry Pi: Raspberry Pi OS 64-bit)"
machine=$("$python" -c 'import platform; print(platform.machine())')
case $machine in
x86_64 | aarch64) ;;
*) printf 'install.sh: warning: no prebuilt wheels for %s: some dependencies will be compiled from source\n' "$machine" >&2 ;;
esac
printf '    %s (%s, %s)\n' "$python" "$("$python" -V 2>&1)" "$machine"

mkdir -p -- "$dest"
# Two runs at once would interleave their copies and installs.
exec 9>"$dest/.install.lock"
flock -n 9 || die "another install.sh is running on $dest"

if [[ $src -ef $dest ]]; then
    step "reinstalling from $dest itself (no copy)"
else
    step "copying $src to $dest"
    # What the build needs (pyproject.toml, its readme, the packages) and deploy/ (the units,
    # the examples; `floorgate demo` reads deploy/examples/playbooks beside the packages).
    items=(pyproject.toml uv.lock README.md protocols edge_agent hub floorgate deploy)
    for optional in LICENSE LICENSE.txt NOTICE; do
        if [[ -e $src/$optional ]]; then items+=("$optional"); fi
    done
    # Replace the trees whole, so files deleted upstream do not linger in the installed code.
    for tree in protocols edge_agent hub floorgate deploy build; do
        rm -rf -- "${dest:?}/$tree"
    done
    rm -rf -- "$dest"/*.egg-info
    # Owned by root, modes from the umask: whoever owns the checkout must not own the code the
    # service runs.
    tar -C "$src" --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' -cf - -- "${items[@]}" |
        tar -C "$dest" --no-same-owner --no-same-permissions -xf -
fi

if [[ -n ${UV:-} ]]; then
    # An operator's (or a test's) uv, e.g. for an install with no route to PyPI.
    step "using uv $UV"
    uv=$UV
    uv_version=$("$uv" --version 2>/dev/null) || die "UV=$uv does not run"
    [[ $uv_version == "uv $UV_VERSION"* ]] || die "UV=$uv is $uv_version; this install needs uv $UV_VERSION"
else
    step "installing uv $UV_VERSION (used only by this script, in $dest/.installer)"
    uv=$dest/.installer/bin/uv
    if [[ ! -x $uv ]] || [[ $("$uv" --version 2>/dev/null) != "uv $UV_VERSION"* ]]; then
        rm -rf -- "$dest/.installer"
        "$python" -c 'import ensurepip, venv' 2>/dev/null ||
            die "the venv module of $python is missing: apt-get install python3-venv"
        "$python" -m venv "$dest/.installer"
        "$dest/.installer/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
    fi
fi

step "installing the dependencies pinned in uv.lock and Floorgate into $dest/.venv"
# A caller's virtual environment or project settings must not redirect the install.
unset VIRTUAL_ENV
export UV_PROJECT_ENVIRONMENT=$dest/.venv UV_PYTHON_DOWNLOADS=never
# --frozen: exactly the committed lock, never re-resolved. Without --inexact, packages the lock
# no longer lists are removed on upgrade. --reinstall-package: the project is re-registered
# even when its version did not change. --compile-bytecode: the service user cannot write
# __pycache__ here, and compiling at every start is slow on an SD card.
(cd "$dest" && "$uv" sync --frozen --no-dev --python "$python" \
    --reinstall-package floorgate --compile-bytecode --no-progress)
# The project itself is installed editable (its code stays in $dest, next to deploy/): compile it too.
(cd "$dest" && "$dest/.venv/bin/python" -m compileall -q protocols edge_agent hub floorgate >/dev/null)
floorgate=$dest/.venv/bin/floorgate
version=$("$floorgate" --version) || die "the installed $floorgate does not run"
printf '    %s\n' "$version"

if ((live)); then
    step "system user floorgate"
    if ! getent group floorgate >/dev/null; then
        groupadd --system floorgate
    fi
    if id -u floorgate >/dev/null 2>&1; then
        printf '    exists\n'
    else
        nologin=$(command -v nologin || echo /usr/sbin/nologin)
        useradd --system --gid floorgate --no-create-home --home-dir /nonexistent \
            --shell "$nologin" --comment "Floorgate service" floorgate
        printf '    created (no login shell, no home)\n'
    fi
fi

step "systemd unit $unit_dir/$unit.service"
mkdir -p -- "$unit_dir"
install -m 0644 -- "$src/deploy/systemd/$unit.service" "$unit_dir/$unit.service"

step "config $conf"
if [[ ! -d $conf_dir ]]; then
    mkdir -p -- "$conf_dir"
    chmod 0750 -- "$conf_dir"
    if ((live)); then chown root:floorgate -- "$conf_dir"; fi
fi
if [[ -e $conf ]]; then
    printf '    kept (it exists; the example is %s)\n' "$dest/deploy/examples/$role.yaml"
    config_is_new=0
else
    if ((live)); then
        install -m 0640 -o root -g floorgate -- "$src/deploy/examples/$role.yaml" "$conf"
    else
        install -m 0640 -- "$src/deploy/examples/$role.yaml" "$conf"
    fi
    printf '    installed the example: edit it before starting the service\n'
    config_is_new=1
fi
# The units' StateDirectory= makes /var/lib/floorgate too; made here already so that the hub's
# `user add` and `token create` can write the database before the first start. Mode 0755 as
# the units' StateDirectoryMode (default): systemd logs a warning at each start on a mismatch.
if [[ ! -d $data_dir ]]; then
    mkdir -p -- "$data_dir"
    chmod 0755 -- "$data_dir"
    if ((live)); then chown floorgate:floorgate -- "$data_dir"; fi
fi

step "checking $conf"
"$floorgate" check-config "$conf" ||
    die "$conf does not validate (the lines above say where); fix it, then check it with: $floorgate check-config $conf"

restarted=0
if ((live)) && command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
    step "systemctl daemon-reload"
    systemctl daemon-reload
    if systemctl is-active --quiet "$unit"; then
        if ((restart_running)); then
            step "restarting $unit to run the new code"
            systemctl restart "$unit"
            restarted=1
        else
            printf '    %s is running the old code until: systemctl restart %s\n' "$unit" "$unit"
        fi
    fi
fi

# What the operator does next, with the paths of the target system.
bin=/opt/floorgate/.venv/bin/floorgate
db=/var/lib/floorgate/hub.duckdb
printf '\nFloorgate %s installed: %s\n' "$role" "$version"
if ((!live)); then
    printf 'Staged under %s: nothing else on this system was changed (no user, no systemctl).\n' "$root"
fi
if ((restarted)); then
    printf '%s was running and has been restarted on the new code.\n' "$unit"
    exit 0
fi
printf '\nNext steps:\n'
if [[ $role == agent ]]; then
    cat <<EOF
  1. Edit /etc/floorgate/agent.yaml$( ((config_is_new)) || printf ' (kept from before)'): agent_id, hub.url, sources, rules
     (docs/configuration.md), then check it: sudo $bin check-config /etc/floorgate/agent.yaml
  2. On the hub, with the hub stopped (DuckDB allows one process), create this agent's token:
       sudo -u floorgate $bin token create --agent AGENT_ID --db $db
  3. Here, store the token it prints (paste it, Enter, then Ctrl-D):
       sudo install -m 0600 -o floorgate -g floorgate /dev/stdin /etc/floorgate/agent.token
  4. Start it now and at every boot: sudo systemctl enable --now $unit
     Follow it: journalctl -u $unit -f
EOF
else
    cat <<EOF
  1. Edit /etc/floorgate/hub.yaml$( ((config_is_new)) || printf ' (kept from before)'): listen, tls, planner lines
     (docs/configuration.md), then check it: sudo $bin check-config /etc/floorgate/hub.yaml
     To run playbooks: sudo cp -r /opt/floorgate/deploy/examples/playbooks /etc/floorgate/
     and set playbooks.path: /etc/floorgate/playbooks (then edit them; docs/playbooks.md).
  2. With the hub stopped (DuckDB allows one process), add the first user and a token per agent
     (--db is storage.path of hub.yaml):
       sudo -u floorgate $bin user add admin --role admin --db $db
       sudo -u floorgate $bin token create --agent AGENT_ID --db $db
  3. Start it now and at every boot: sudo systemctl enable --now $unit
     Follow it: journalctl -u $unit -f
EOF
fi
