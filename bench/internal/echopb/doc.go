// Package echopb holds the gRPC contender's protobuf messages and service, generated from
// bench.proto by protoc with protoc-gen-go and protoc-gen-go-grpc (see go:generate below).
package echopb

//go:generate protoc --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative bench.proto
