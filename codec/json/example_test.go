package json_test

import (
	stdjson "encoding/json"
	"fmt"

	"github.com/tandem-rpc/tandem/codec/json"
)

func Example() {
	c := json.New()
	// Raw JSON text, say from a command line, passes through unchanged.
	b, err := c.AppendList(nil, []any{stdjson.RawMessage(`{"x": 1}`), "apples"})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))

	var p struct{ X int }
	var what string
	n, err := c.DecodeList(b, []any{&p, &what})
	fmt.Println(n, err, p.X, what)
	// Output:
	// [{"x":1},"apples"]
	// 2 <nil> 1 apples
}
