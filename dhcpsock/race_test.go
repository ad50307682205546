//go:build linux && race

package dhcpsock_test

const raceEnabled = true
