package msgpack_test

import (
	"fmt"

	"github.com/tandem-rpc/tandem/codec/msgpack"
)

func Example() {
	c := msgpack.New()
	b, err := c.AppendList(nil, []any{2, "apples"})
	if err != nil {
		panic(err)
	}
	var n int
	var what string
	count, err := c.DecodeList(b, []any{&n, &what})
	fmt.Println(count, err, n, what)

	// A count mismatch decodes nothing; the caller reports it.
	count, err = c.DecodeList(b, []any{&n})
	fmt.Println(count, err)
	// Output:
	// 2 <nil> 2 apples
	// 2 <nil>
}
