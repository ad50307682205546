// Package journal follows every PXE client through its boot, from the first
// DISCOVER to the last file it fetches, and says in plain words whether it
// booted and, if not, why.
//
// The services report what they see through a small input API of plain values
// (Discover, Reply, Join, Conflict, StartTransfer with Progress and End); the
// journal keeps one journey per client, keyed by MAC, or by IP address for a
// relayed client whose MAC is not known yet, and merges the two when a MAC for
// that address appears. Judge turns a journey into a State and a sentence; it
// is a pure function of the journey and the time passed in. Handler serves the
// read-only JSON API under /api/v1/ and the live web page at /.
//
// Contract: everything a LAN packet can create here is bounded. At most
// Config.Clients journeys, Config.Events events per journey and
// Config.TotalEvents events in all are kept; every string is cut and cleaned of
// control characters when recorded; new journeys are rate-limited per source
// (relay or ingress interface) and globally, so one spoofing host cannot push
// every other client out in a second; stream subscribers are bounded in number
// and each holds at most one batch, and a slow one is dropped. Recording never
// blocks on a reader: it only takes the store's mutex for a short, bounded
// update, and transfer progress is two atomic stores.
package journal
