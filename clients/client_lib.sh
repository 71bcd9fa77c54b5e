# SPDX-License-Identifier: GPL-2.0
# client_lib.sh: what the clients (clients/*_client) share, sourced by
# them: TAP output, and finding the functions bound to vfio-pci.

n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n $1"; }
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }
say() { echo "# $*"; }
show() { [ -s "$1" ] && sed "s/^/# $2: /" "$1"; }

# "bus id" of every function bound to vfio-pci, VFs aside
functions() {
	for dev in /sys/bus/pci/drivers/vfio-pci/*:*; do
		[ -e "$dev/physfn" ] && continue
		f=${dev##*/}
		echo "${f%:*} $f $(sed 's/^0x//' "$dev/vendor"):$(sed 's/^0x//' "$dev/device")"
	done
}

# the functions of the bus whose functions have exactly the ids given, in
# function order, separated by blanks
find_bus() {
	want="$*"
	for bus in $(functions | cut -d' ' -f1 | sort -u); do
		ids=$(functions | grep "^$bus " | sort | cut -d' ' -f3 | tr '\n' ' ')
		if [ "$ids" = "$want " ]; then
			# shellcheck disable=SC2046 # one line of BDFs
			echo $(functions | grep "^$bus " | sort | cut -d' ' -f2)
			return
		fi
	done
}

# enable_vf PF: one VF on PF (vfio-pci enable_sriov=1), bound to vfio-pci;
# prints its BDF, or fails
enable_vf() {
	echo 1 > "/sys/bus/pci/devices/$1/sriov_numvfs" || return 1
	vf=$(basename "$(readlink "/sys/bus/pci/devices/$1/virtfn0")")
	echo vfio-pci > "/sys/bus/pci/devices/$vf/driver_override"
	echo "$vf" > /sys/bus/pci/drivers_probe
	echo "$vf"
}
