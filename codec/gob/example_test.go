package gob_test

import (
	"fmt"

	"github.com/tandem-rpc/tandem/codec/gob"
)

func Example() {
	type Order struct {
		Item  string
		Count int
	}
	c := gob.New()
	b, err := c.AppendList(nil, []any{Order{"apples", 2}, 7})
	if err != nil {
		panic(err)
	}
	var o Order
	var n int
	count, err := c.DecodeList(b, []any{&o, &n})
	fmt.Println(count, err, o.Item, o.Count, n)
	// Output:
	// 2 <nil> apples 2 7
}
