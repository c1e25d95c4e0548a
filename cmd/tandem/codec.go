package main

import (
	"fmt"

	"github.com/tandem-rpc/tandem"
	"github.com/tandem-rpc/tandem/codec/gob"
	"github.com/tandem-rpc/tandem/codec/json"
	"github.com/tandem-rpc/tandem/codec/msgpack"
)

// codecByName returns the codec the command line names.
func codecByName(name string) (tandem.Codec, error) {
	switch name {
	case "msgpack":
		return msgpack.New(), nil
	case "json":
		return json.New(), nil
	case "gob":
		return gob.New(), nil
	}
	return nil, fmt.Errorf("unknown codec %q (want msgpack, json or gob)", name)
}
