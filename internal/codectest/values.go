package codectest

import "time"

// Codec is a copy of tandem's Codec interface. The root package imports the codecs, so
// this package, which the codecs' tests import, cannot import it.
type Codec interface {
	Name() string
	AppendList(dst []byte, vals []any) ([]byte, error)
	DecodeList(src []byte, ptrs []any) (n int, err error)
}

// Celsius is a named float.
type Celsius float64

// Names is a named slice.
type Names []string

// Point is a small flat struct.
type Point struct {
	X, Y int
}

// Record is a struct holding every kind of field a codec must carry: numbers, strings,
// slices, maps, bytes, nested and pointed-to structs, a nil pointer, a named type and a time.
type Record struct {
	ID      int64
	Name    string
	Tags    []string
	Attrs   map[string]int
	Blob    []byte
	Origin  Point
	Parent  *Record
	Missing *Point
	Temp    Celsius
	When    time.Time
}

// Tree is recursive, so a hostile stream can nest its values without bound.
type Tree struct {
	Kids []Tree
}

// When returns the instant, in UTC with nanoseconds, that [Sample] records.
func When() time.Time {
	return time.Date(2024, 5, 17, 10, 11, 12, 13, time.UTC)
}

// Sample returns a fully populated [Record] with a parent.
func Sample() Record {
	return Record{
		ID: 7, Name: "seven", Tags: []string{"a", "b"}, Attrs: map[string]int{"k": 1},
		Blob: []byte{0, 1, 2}, Origin: Point{X: 1, Y: -2},
		Parent: &Record{ID: 1, Name: "root", When: When()}, Temp: 21.5, When: When(),
	}
}
