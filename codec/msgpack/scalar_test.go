package msgpack_test

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"testing"

	vmsgpack "github.com/vmihailenco/msgpack/v5"

	"github.com/tandem-rpc/tandem/codec/msgpack"
)

// scalarEdges are values of every type the codec encodes without vmihailenco/msgpack, at
// the edges of each encoding.
var scalarEdges = []any{
	nil, true, false,
	0, 1, 127, 128, 255, 256, 65535, 65536, math.MaxUint32, math.MaxUint32 + 1, math.MaxInt64,
	-1, -32, -33, -128, -129, -32768, -32769, math.MinInt32, math.MinInt32 - 1, math.MinInt64,
	int32(math.MinInt32), int32(-1), int32(math.MaxInt32),
	int64(math.MinInt64), int64(-33), int64(200), int64(math.MaxInt64),
	uint(0), uint(128), uint(math.MaxUint64),
	uint32(0), uint32(255), uint32(math.MaxUint32),
	uint64(0), uint64(127), uint64(65536), uint64(math.MaxUint64),
	0.0, -0.5, math.Inf(1), math.MaxFloat64, math.NaN(),
	"", "a", string(make([]byte, 31)), string(make([]byte, 32)), string(make([]byte, 255)),
	string(make([]byte, 256)), string(make([]byte, 65535)), string(make([]byte, 65536)),
	[]byte(nil), []byte{}, []byte{1}, make([]byte, 255), make([]byte, 256), make([]byte, 65536),
}

// reference encodes vals the way the codec did before it encoded scalars itself.
func reference(t *testing.T, vals []any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := vmsgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.EncodeArrayLen(len(vals)); err != nil {
		t.Fatal(err)
	}
	for _, v := range vals {
		if err := enc.Encode(v); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// TestScalarsEncodeAsTheLibraryDoes checks that lists of scalars encode to the very bytes
// vmihailenco/msgpack writes for them, alone, all together, and mixed with a value the
// codec leaves to it.
func TestScalarsEncodeAsTheLibraryDoes(t *testing.T) {
	c := msgpack.New()
	lists := [][]any{scalarEdges, append([]any{struct{ A int }{1}}, scalarEdges...)}
	for _, v := range scalarEdges {
		lists = append(lists, []any{v})
	}
	for _, vals := range lists {
		got, err := c.AppendList([]byte{0xAA}, vals)
		if err != nil {
			t.Fatalf("AppendList(%.40v): %v", vals, err)
		}
		if want := append([]byte{0xAA}, reference(t, vals)...); !bytes.Equal(got, want) {
			t.Errorf("AppendList(%.40v) = %x, want %x", vals, got[:min(len(got), 40)], want[:min(len(want), 40)])
		}
	}
}

// scalarTargets returns fresh pointers of every type the codec decodes without
// vmihailenco/msgpack.
func scalarTargets() []any {
	return []any{new(int64), new(int), new(uint64), new(uint), new(bool), new(float64), new(string), new([]byte)}
}

// decodeBothWays decodes one encoded element into a fresh pointer of target's type twice:
// as a list of its own, which the codec decodes itself, and after an element decoded into
// nil, which sends the list down the general path. It fails t if they differ.
func decodeBothWays(t *testing.T, c *msgpack.Codec, elem []byte, target any) {
	typ := reflect.TypeOf(target).Elem()
	fast, general := reflect.New(typ), reflect.New(typ)
	_, errFast := c.DecodeList(append([]byte{0x91}, elem...), []any{fast.Interface()})
	_, errGeneral := c.DecodeList(append([]byte{0x92, 0xc0}, elem...), []any{nil, general.Interface()})
	if (errFast == nil) != (errGeneral == nil) {
		t.Fatalf("%x into *%v: %v on its own, %v by the general path", elem, typ, errFast, errGeneral)
	}
	if errFast != nil {
		return
	}
	f, g := fast.Elem().Interface(), general.Elem().Interface()
	if ff, ok := f.(float64); ok && math.IsNaN(ff) && math.IsNaN(g.(float64)) {
		return
	}
	if !reflect.DeepEqual(f, g) {
		t.Fatalf("%x into *%v: %#v on its own, %#v by the general path", elem, typ, f, g)
	}
}

// TestScalarsDecodeAsTheLibraryDoes decodes every encoding of an integer (not only the
// shortest), nil, booleans, floats, strs and bins, and a map, into every scalar type, and
// checks that the codec's own decoding gives what the general path gives: the same value,
// or an error in both.
func TestScalarsDecodeAsTheLibraryDoes(t *testing.T) {
	c := msgpack.New()
	elems := [][]byte{
		{0x00}, {0x7f}, {0xe0}, {0xff}, {0xc0}, {0xc2}, {0xc3},
		{0xcc, 0xff}, {0xd0, 0x80}, {0xcd, 0xff, 0xff}, {0xd1, 0x80, 0x00},
		{0xce, 0xff, 0xff, 0xff, 0xff}, {0xd2, 0x80, 0, 0, 0},
		{0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, {0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0},
		{0xd3, 0, 0, 0, 0, 0, 0, 0, 5}, {0xcc, 5},
		{0xca, 0x3f, 0xc0, 0, 0}, {0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0},
		{0xa0}, {0xa3, 'a', 'b', 'c'}, {0xd9, 1, 'x'}, {0xda, 0, 1, 'y'}, {0xdb, 0, 0, 0, 1, 'z'},
		{0xc4, 0}, {0xc4, 2, 1, 2}, {0xc5, 0, 1, 9}, {0xc6, 0, 0, 0, 1, 8},
		{0x80}, {0x90}, {0x81, 0xa1, 'k', 0x01}, {0xd4, 1, 2},
	}
	for _, v := range scalarEdges {
		b, err := c.AppendList(nil, []any{v})
		if err != nil {
			t.Fatal(err)
		}
		elems = append(elems, b[1:])
	}
	for _, elem := range elems {
		for _, target := range scalarTargets() {
			decodeBothWays(t, c, elem, target)
		}
	}
}

// TestScalarsDoNotAliasInput checks that strings and byte slices the codec decodes itself
// are copies, and borrowed byte slices views with their capacity cut, as on the general path.
func TestScalarsDoNotAliasInput(t *testing.T) {
	c := msgpack.New()
	src, err := c.AppendList(nil, []any{[]byte("abc"), "def"})
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	var s string
	if _, err := c.DecodeList(src, []any{&b, &s}); err != nil {
		t.Fatal(err)
	}
	copy(src, bytes.Repeat([]byte{'!'}, len(src)))
	if string(b) != "abc" || s != "def" {
		t.Fatalf("decoded values changed with their input: %q, %q", b, s)
	}
	src, _ = c.AppendList(nil, []any{[]byte("abc")})
	if _, err := c.DecodeListBorrowing(src, []any{&b}); err != nil {
		t.Fatal(err)
	}
	if cap(b) != len(b) || &b[0] != &src[3] {
		t.Fatalf("borrowed %q (capacity %d) is not a view of its input", b, cap(b))
	}
	var n int64
	if _, err := c.DecodeList([]byte{0x91, 0xa1, 'x'}, []any{&n}); err == nil || !errors.As(err, new(*msgpack.ElementError)) {
		t.Fatalf("a str into *int64: %v, want an *ElementError", err)
	}
}

// Named counterparts of the scalar types: the codec leaves them to the general path.
type (
	namedInt64  int64
	namedInt    int
	namedUint64 uint64
	namedUint   uint
	namedBool   bool
	namedFloat  float64
	namedString string
	namedBytes  []byte
)

// scalarLists are lists of scalar targets, each with its named counterparts.
var scalarLists = [][2][]any{
	{{new(int64)}, {new(namedInt64)}},
	{{new(int), new(string)}, {new(namedInt), new(namedString)}},
	{{new(float64), new(bool), new([]byte)}, {new(namedFloat), new(namedBool), new(namedBytes)}},
	{{new(uint64), new(uint), new(int64)}, {new(namedUint64), new(namedUint), new(namedInt64)}},
}

// decodeListBothWays decodes src whole into each list of scalar targets, which the codec
// decodes itself, validating src as it goes, and into their named counterparts, which go
// through scanList and the general path. It fails t if the counts, the errors' presence or
// the values differ.
func decodeListBothWays(t *testing.T, c *msgpack.Codec, src []byte) {
	for _, l := range scalarLists {
		fast, general := freshCopies(l[0]), freshCopies(l[1])
		nf, errFast := c.DecodeList(src, fast)
		ng, errGeneral := c.DecodeList(src, general)
		if nf != ng || (errFast == nil) != (errGeneral == nil) {
			t.Fatalf("%x into %T: %d, %v by the codec; %d, %v by the general path", src, fast, nf, errFast, ng, errGeneral)
		}
		if errFast != nil || nf != len(fast) {
			continue
		}
		for i := range fast {
			f := reflect.ValueOf(fast[i]).Elem()
			g := reflect.ValueOf(general[i]).Elem().Convert(f.Type())
			switch f := f.Interface().(type) {
			case []byte:
				if !bytes.Equal(f, g.Bytes()) {
					t.Fatalf("%x, element %d: %q by the codec, %q by the general path", src, i, f, g.Bytes())
				}
			case float64:
				if g := g.Float(); f != g && !(math.IsNaN(f) && math.IsNaN(g)) {
					t.Fatalf("%x, element %d: %v by the codec, %v by the general path", src, i, f, g)
				}
			default:
				if !reflect.DeepEqual(f, g.Interface()) {
					t.Fatalf("%x, element %d: %#v by the codec, %#v by the general path", src, i, f, g.Interface())
				}
			}
		}
	}
}

// freshCopies returns new zero pointers of the types of ptrs.
func freshCopies(ptrs []any) []any {
	out := make([]any, len(ptrs))
	for i, p := range ptrs {
		out[i] = reflect.New(reflect.TypeOf(p).Elem()).Interface()
	}
	return out
}

// TestScalarListsDecodeAsTheLibraryDoes checks whole lists the codec decodes itself, and
// malformed ones it must leave to scanList to report: truncated, with trailing bytes, with
// a count other than the targets', or not a list.
func TestScalarListsDecodeAsTheLibraryDoes(t *testing.T) {
	c := msgpack.New()
	var srcs [][]byte
	for _, vals := range [][]any{{int64(-5)}, {7, "seven"}, {1.5, true, []byte{1, 2}}, {uint64(math.MaxUint64), uint(3), int64(math.MinInt64)}} {
		b, err := c.AppendList(nil, vals)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, b, b[:len(b)-1], append(b[:len(b):len(b)], 0x00))
	}
	srcs = append(srcs, nil, []byte{0x90}, []byte{0x91}, []byte{0x92, 0x01, 0x02}, []byte{0x01},
		[]byte{0xdc, 0x00, 0x01, 0x05}, []byte{0xdd, 0, 0, 0, 1, 0x05}, []byte{0xdd, 0xff, 0xff, 0xff, 0xff, 0x05},
		[]byte{0x91, 0xd9, 0x05, 'a'}, []byte{0x91, 0xcf, 0x01})
	for _, src := range srcs {
		decodeListBothWays(t, c, src)
	}
}
