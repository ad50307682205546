# shellcheck shell=bash
# e2e/scenario-browser.sh, sourced by e2e/run.sh: scenario browser (issue 16). Headless Chromium (Debian's
# chromium, driven by the Go test in e2e/browser through chromedp) keeps pxeproxy's journeys page open from
# namespace pxe while two QEMU clients, SeaBIOS and OVMF, boot Debian's installer through the generated menu at
# once, as in linux-bios and linux-uefi: each client's row appears, its progress bar moves during a download over
# HTTP, it reads in-progress or booted all along, and it ends at booted naming the 40 MB initrd. The screenshot
# (the rows and the last client's timeline) goes to $E2E_BROWSER_SHOT, default browser.png in the scenario's
# artifacts (and E2E_ARTIFACTS). E2E_BROWSER_KINDS (default "bios uefi") picks the clients.
ALL_EXTRA="$ALL_EXTRA browser"

scenario_browser() {
	local dir=$1 test=$E2E_TMP/browser.test kind macs= mac bpid rc deadline seen i
	local shot=${E2E_BROWSER_SHOT:-$dir/browser.png}
	if [[ ! -x ${PXE_CHROMIUM:-/usr/bin/chromium} ]]; then
		why="needs Debian's chromium (or PXE_CHROMIUM)"
		return 1
	fi
	if [[ ! -f $DI_DIR/linux || ! -f $DI_DIR/initrd.gz ]]; then
		why="needs debian-installer-12-netboot-amd64 ($DI_DIR)"
		return 1
	fi
	# Built before anything starts, so compiling (slow on a loaded machine) takes nothing from the boot's time.
	if ! (cd "$repo" && go test -c -o "$test" ./e2e/browser) >"$dir/build.log" 2>&1; then
		why="go test -c ./e2e/browser: $(tail -n 2 "$dir/build.log" | tr '\n' ' ')"
		return 1
	fi
	linux_root || { why="cannot fill the linux boot folder"; return 1; }
	corp_dnsmasq "$dir"
	start_pxeproxy "$dir" PXE_TFTP_ROOT="$lroot" PXE_MENU_DEFAULT=$DI_ID PXE_MENU_TIMEOUT=2s || return 1
	i=$ntap
	for kind in ${E2E_BROWSER_KINDS:-bios uefi}; do
		i=$((i + 1))
		macs+=${macs:+,}$(e2e_mac "$i") # the MACs add_client gives the next clients
	done
	e2e_bg pxe "$dir/browser.log" env PXE_BROWSER_URL=http://10.77.0.3:4011/ PXE_BROWSER_MAC="$macs" \
		PXE_BROWSER_FILE=/linux/debian-12/initrd.gz PXE_BROWSER_SHOT="$shot" PXE_BROWSER_TIMEOUT="${T_LINUX}s" \
		"$test" -test.v -test.count=1 -test.run '^TestBootInBrowser$' -test.timeout "$((T_LINUX + 60))s"
	bpid=$E2E_PID
	svc_pids+=("$bpid")
	# The page is open before a client asks for anything: the rows must appear live, not on a first load.
	if ! e2e_wait_for "$dir/browser.log" 'page live' 60 "$bpid"; then
		why="the browser did not open the page: $(tail -n 3 "$dir/browser.log" | tr '\n' ' ')"
		return 1
	fi
	for kind in ${E2E_BROWSER_KINDS:-bios uefi}; do
		E2E_QEMU_MEM_BIOS=${E2E_QEMU_MEM_LINUX:-1024} E2E_QEMU_MEM_UEFI=${E2E_QEMU_MEM_LINUX:-1024} \
			add_client "$kind" br0 "$dir" || { why="QEMU did not start"; return 1; }
	done
	deadline=$((SECONDS + T_LINUX + 30))
	while kill -0 "$bpid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 1
	done
	if kill -0 "$bpid" 2>/dev/null; then
		why="the browser test did not end within $((T_LINUX + 30))s"
		return 1
	fi
	wait "$bpid"
	rc=$?
	if ((rc != 0)); then
		why="browser test failed ($rc): $(grep -E '^\s+browser_test.go:[0-9]+: ' "$dir/browser.log" | grep -vE 'page live|showed:' | head -n 6 | tr -s ' \n' ' ')"
		return 1
	fi
	# What the page showed stands on what happened: whole downloads of the kernel and initrd over HTTP.
	http_full "$dir" /linux/debian-12/linux "$lroot/linux/debian-12/linux" || return 1
	http_full "$dir" /linux/debian-12/initrd.gz "$lroot/linux/debian-12/initrd.gz" || return 1
	if [[ ! -s $shot ]]; then
		why="no screenshot at $shot"
		return 1
	fi
	[[ -n ${E2E_ARTIFACTS:-} ]] && mkdir -p "$E2E_ARTIFACTS" && cp "$shot" "$E2E_ARTIFACTS/browser.png"
	seen=$(grep -oE 'seen: .*' "$dir/browser.log" | cut -c7- | tr '\n' ';')
	note="${seen%;}; screenshot $(stat -c %s "$shot") bytes"
}
