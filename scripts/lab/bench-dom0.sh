#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The benchmark's dom0 side (scripts/bench.sh): dom0's httpd answers
# /cgi-bin/cpu with one line "UPTIME DOM0_CPU_S DOMU_CPU_S": dom0's uptime
# and the CPU seconds Xen has accounted to dom0 and to the domU (xl list),
# so that the guest can say, around each measurement, how much of the
# host's CPUs each domain took.
set -u
mkdir -p /srv/www/cgi-bin
cat >/srv/www/cgi-bin/cpu.tmp <<CGI
#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
echo "Content-Type: text/plain"
echo
xl list | awk -v up="\$(cut -d' ' -f1 /proc/uptime)" '
	\$1 == "Domain-0" { d0 = \$6 }
	\$1 == "$XPN_DOMNAME" { du = \$6 }
	END { if (d0 != "" && du != "") print up, d0, du }'
CGI
chmod +x /srv/www/cgi-bin/cpu.tmp
mv /srv/www/cgi-bin/cpu.tmp /srv/www/cgi-bin/cpu
echo "bench: /cgi-bin/cpu ready ($(/srv/www/cgi-bin/cpu | tail -n 1))"
