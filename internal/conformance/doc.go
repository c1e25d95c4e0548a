// Package conformance proves that tandem's generated clients are transparent: its tests run
// one suite against a local implementation of [Calculator] and against the generated remote
// client over real connections (net.Pipe and TCP, in both directions), and require the same
// results, the same errors (code, message and details) and the same deadline behaviour.
//
// The package holds the contracts ([Calculator], and [Hub] and [Listener] for calls back
// into the caller), their local implementations and the code tandem gen wrote for them.
package conformance

//go:generate go run github.com/tandem-rpc/tandem/cmd/tandem gen -type Calculator,Hub,Listener,Kitchen
