package json

// span is the position of one element, white space included, in the input.
type span struct{ start, end int }

// scanList checks the shape of src without decoding it: src must be a JSON array, with
// only white space around it, whose arrays and objects nest at most maxDepth deep (the list
// being depth 1). It appends the span of each element to spans. Brackets inside strings are
// not counted. It does not check the JSON grammar; encoding/json does that afterwards.
//
// It returns the number of elements, n, and appends the spans of the first limit elements
// to spans, so that a long list costs no memory.
func scanList(src []byte, maxDepth int, spans []span, limit int) (int, []span, error) {
	p := skipSpace(src, 0)
	if p == len(src) || src[p] != '[' {
		return 0, nil, at(ErrNotList, p)
	}
	n := 0
	add := func(s span) {
		if n < limit {
			spans = append(spans, s)
		}
		n++
	}
	depth := 0
	start := p + 1 // of the current element
	empty := true  // no element seen yet in the list
	for ; p < len(src); p++ {
		switch c := src[p]; c {
		case '"':
			// Skip the string; a backslash escapes the byte after it.
			for p++; p < len(src) && src[p] != '"'; p++ {
				if src[p] == '\\' {
					p++
				}
			}
			if p >= len(src) {
				return 0, nil, at(ErrSyntax, len(src))
			}
			if depth == 1 {
				empty = false
			}
		case '[', '{':
			if depth == 1 {
				empty = false
			}
			depth++
			if depth > maxDepth {
				return 0, nil, at(ErrTooDeep, p)
			}
		case ']', '}':
			depth--
			if depth == 0 {
				if !empty {
					add(span{start, p})
				}
				if q := skipSpace(src, p+1); q != len(src) {
					return 0, nil, at(ErrTrailingBytes, q)
				}
				return n, spans, nil
			}
		case ',':
			if depth == 1 {
				add(span{start, p})
				start = p + 1
			}
		case ' ', '\t', '\n', '\r':
		default:
			if depth == 1 {
				empty = false
			}
		}
	}
	return 0, nil, at(ErrSyntax, len(src))
}

func skipSpace(src []byte, p int) int {
	for p < len(src) {
		switch src[p] {
		case ' ', '\t', '\n', '\r':
			p++
		default:
			return p
		}
	}
	return p
}
