#!/usr/bin/env bash
# Idempotent set-up for k8snet on Debian 12: packages, venv, Open vSwitch.
# Fast the second time: each step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(mininet openvswitch-switch iperf3 nftables iptables conntrack ethtool
          tcpdump fping python3-venv python3-pip iproute2 iputils-ping curl
          dnsutils procps kmod nginx-light graphviz bubblewrap traceroute)
VENV=.venv

if [ "$(id -u)" != 0 ]; then
  echo "error: k8snet set-up needs root (packages, OVS); run with sudo" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "*** Installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  # No package may start a daemon in the root namespace (nginx would listen on
  # 0.0.0.0:80): k8snet runs nginx only inside pods.
  # An existing policy-rc.d is the machine's own: it is left as it is.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv uses Debian's python3 so that Debian's mininet package imports.
if [ ! -x "$VENV/bin/python" ]; then
  echo "*** Creating $VENV (system python3, --system-site-packages)"
  /usr/bin/python3 -m venv --system-site-packages "$VENV"
fi
if [ ! -f "$VENV/.installed" ] || [ setup.py -nt "$VENV/.installed" ]; then
  echo "*** Installing k8snet into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e '.[dev]'
  touch "$VENV/.installed"
fi

# Open vSwitch: userspace datapath (no kernel module here) with TSO on.
OVS_CTL=/usr/share/openvswitch/scripts/ovs-ctl
ovs_ctl() {
  # The daemons outlive us: they must not inherit our descriptors (a lock
  # taken by `flock FILE make test` would otherwise be held until OVS stops).
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-"; fi
    done
    "$OVS_CTL" "$@" --system-id=random >/dev/null 2>&1
  ) || true
}
if ! ovs-vsctl --timeout=3 show >/dev/null 2>&1; then
  echo "*** Starting Open vSwitch"
  ovs_ctl start
fi
if ! ovs-vsctl --timeout=3 show >/dev/null 2>&1; then
  echo "error: Open vSwitch did not start; see /var/log/openvswitch/" >&2
  exit 1
fi
tso=$(ovs-vsctl --timeout=3 get Open_vSwitch . other_config:userspace-tso-enable 2>/dev/null || true)
if [ "$tso" != '"true"' ]; then
  # Bridges not tagged by k8snet belong to someone else: never restart under them.
  foreign=$(ovs-vsctl --timeout=3 --format=csv --no-headings --columns=name,external_ids \
            list Bridge | grep -v 'k8snet-cluster' | cut -d, -f1 | tr '\n' ' ' || true)
  if [ -n "${foreign// /}" ]; then
    echo "*** OVS userspace TSO is off and other bridges use ovs-vswitchd ($foreign):"
    echo "    not restarting it; k8snet works, with lower throughput. To enable TSO:"
    echo "    ovs-vsctl set Open_vSwitch . other_config:userspace-tso-enable=true"
    echo "    and restart Open vSwitch when those bridges can take it."
  else
    echo "*** Enabling OVS userspace TSO (restarts ovs-vswitchd: no other bridges use it)"
    ovs-vsctl --timeout=3 set Open_vSwitch . other_config:userspace-tso-enable=true
    ovs_ctl restart
    ovs-vsctl --timeout=10 show >/dev/null
  fi
fi
