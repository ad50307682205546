package tftpd

import "github.com/pxeproxy/pxeproxy/bootfs"

// ErrNotFound and ErrAccess are the boot folder's, wrapped by Stats.Err of a
// refused request (and ErrAccess by a refused write request).
var (
	ErrNotFound = bootfs.ErrNotFound
	ErrAccess   = bootfs.ErrAccess
)
