//go:build !linux

package tandem

import (
	"net"
	"time"
)

// setUserTimeout does nothing where TCP_USER_TIMEOUT is not available; keepalive pings
// still detect a dead peer.
func setUserTimeout(net.Conn, time.Duration) {}
