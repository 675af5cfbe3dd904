package auth

// maxJSONDepth is the deepest nesting encoding/json accepts.
const maxJSONDepth = 10000

// appendCompactJSON appends src to dst as encoding/json writes a
// json.RawMessage: without the whitespace between tokens, with <, >, & and
// U+2028, U+2029 in strings escaped, and only when src is one valid JSON
// value (ok false otherwise, dst then holds a part of it). It checks what
// encoding/json's scanner checks, in one pass: stored metadata is written
// with every user object, and the scanner's state machine cost more than
// the rest of writing it (FuzzRawJSON holds the two to the same bytes and
// the same verdicts).
func appendCompactJSON(dst, src []byte) (_ []byte, ok bool) {
	var small [32]byte
	stack := small[:0] // the open containers, '{' or '['
	i := 0
	for {
		// A value is expected at i.
		i = skipJSONSpace(src, i)
		if i >= len(src) {
			return dst, false
		}
		c := src[i]
		switch {
		case c == '{' || c == '[':
			if len(stack) >= maxJSONDepth {
				return dst, false
			}
			dst = append(dst, c)
			i = skipJSONSpace(src, i+1)
			if i < len(src) && src[i] == c+2 { // '}' is '{'+2, ']' is '['+2
				dst = append(dst, src[i])
				i++
				break
			}
			stack = append(stack, c)
			if c == '{' {
				if dst, i, ok = appendJSONKey(dst, src, i); !ok {
					return dst, false
				}
			}
			continue
		case c == '"':
			if dst, i, ok = appendJSONStringToken(dst, src, i); !ok {
				return dst, false
			}
		case c == '-' || c >= '0' && c <= '9':
			j, ok := jsonNumberEnd(src, i)
			if !ok {
				return dst, false
			}
			dst, i = append(dst, src[i:j]...), j
		case c == 't' || c == 'f' || c == 'n':
			lit := "null"
			if c == 't' {
				lit = "true"
			} else if c == 'f' {
				lit = "false"
			}
			if len(src)-i < len(lit) || string(src[i:i+len(lit)]) != lit {
				return dst, false
			}
			dst, i = append(dst, lit...), i+len(lit)
		default:
			return dst, false
		}
		// A value ended at i: close containers, or go on to the next value.
		for {
			i = skipJSONSpace(src, i)
			if len(stack) == 0 {
				return dst, i == len(src)
			}
			if i >= len(src) {
				return dst, false
			}
			top := stack[len(stack)-1]
			if src[i] == top+2 {
				dst = append(dst, src[i])
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if src[i] != ',' {
				return dst, false
			}
			dst = append(dst, ',')
			i++
			if top == '{' {
				if dst, i, ok = appendJSONKey(dst, src, i); !ok {
					return dst, false
				}
			}
			break
		}
	}
}

// skipJSONSpace returns the index of the first byte from i on that is not
// JSON whitespace.
func skipJSONSpace(src []byte, i int) int {
	for i < len(src) {
		switch src[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// appendJSONKey appends an object's key and its colon, from i.
func appendJSONKey(dst, src []byte, i int) ([]byte, int, bool) {
	i = skipJSONSpace(src, i)
	if i >= len(src) || src[i] != '"' {
		return dst, i, false
	}
	dst, i, ok := appendJSONStringToken(dst, src, i)
	if !ok {
		return dst, i, false
	}
	i = skipJSONSpace(src, i)
	if i >= len(src) || src[i] != ':' {
		return dst, i, false
	}
	return append(dst, ':'), i + 1, true
}

// appendJSONStringToken appends the string starting with the quote at i,
// HTML-escaped, and returns the index after its closing quote.
func appendJSONStringToken(dst, src []byte, i int) ([]byte, int, bool) {
	start := i
	for i++; i < len(src); {
		switch c := src[i]; {
		case c == '"':
			return append(dst, src[start:i+1]...), i + 1, true
		case c < 0x20:
			return dst, i, false
		case c == '\\':
			if i+1 >= len(src) {
				return dst, i, false
			}
			switch src[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(src) || !isHex(src[i+2]) || !isHex(src[i+3]) || !isHex(src[i+4]) || !isHex(src[i+5]) {
					return dst, i, false
				}
				i += 6
			default:
				return dst, i, false
			}
		case c == '<' || c == '>' || c == '&':
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			i++
			start = i
		case c == 0xE2 && i+2 < len(src) && src[i+1] == 0x80 && src[i+2]&^1 == 0xA8:
			dst = append(dst, src[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[src[i+2]&0xF])
			i += 3
			start = i
		default:
			i++
		}
	}
	return dst, i, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// jsonNumberEnd returns the end of the number starting at i:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func jsonNumberEnd(src []byte, i int) (int, bool) {
	digits := func(i int) int {
		for i < len(src) && src[i] >= '0' && src[i] <= '9' {
			i++
		}
		return i
	}
	if src[i] == '-' {
		i++
	}
	switch {
	case i < len(src) && src[i] == '0':
		i++
	case i < len(src) && src[i] >= '1' && src[i] <= '9':
		i = digits(i + 1)
	default:
		return i, false
	}
	if i < len(src) && src[i] == '.' {
		j := digits(i + 1)
		if j == i+1 {
			return j, false
		}
		i = j
	}
	if i < len(src) && (src[i] == 'e' || src[i] == 'E') {
		i++
		if i < len(src) && (src[i] == '+' || src[i] == '-') {
			i++
		}
		j := digits(i)
		if j == i {
			return j, false
		}
		i = j
	}
	return i, true
}
