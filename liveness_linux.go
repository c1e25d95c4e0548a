package tandem

import (
	"net"
	"syscall"
	"time"
)

// tcpUserTimeout is TCP_USER_TIMEOUT from linux/tcp.h.
const tcpUserTimeout = 0x12

// setUserTimeout sets TCP_USER_TIMEOUT, so the kernel itself gives up on a connection whose
// sent data goes unacknowledged for d.
func setUserTimeout(conn net.Conn, d time.Duration) {
	tc := tcpConn(conn)
	if tc == nil {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpUserTimeout, int(d.Milliseconds()))
	})
}
