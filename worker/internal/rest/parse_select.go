package rest

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The query grammar (docs/api/rest.md §3–5) is parsed into these trees before anything
// is looked up in the schema cache; the translator then resolves names and
// builds SQL from them.

// maxDepth bounds embedding and logic-tree nesting, so hostile input cannot
// recurse without limit.
const maxDepth = 40

type itemKind int

const (
	itemField itemKind = iota
	itemStar
	itemEmbed
	itemSpread
	itemCount // count() on its own
)

// jsonStep is one -> or ->> step of a JSON path.
type jsonStep struct {
	Text bool   `json:",omitempty"` // ->> (as text) rather than ->
	Key  string `json:",omitempty"`
}

// selectItem is one element of a select list. The JSON tags only make test
// failures readable.
type selectItem struct {
	Kind  itemKind
	Alias string     `json:",omitempty"`
	Name  string     `json:",omitempty"`
	JSON  []jsonStep `json:",omitempty"`
	Cast  string     `json:",omitempty"`
	Agg   string     `json:",omitempty"` // sum avg min max count, applied to the field
	// AggCast casts the aggregate's result.
	AggCast string `json:",omitempty"`

	// Embeds and spreads.
	Hint     string        `json:",omitempty"`
	JoinType string        `json:",omitempty"` // inner, left or ""
	Children []*selectItem `json:",omitempty"`
}

// key is the JSON key the item is output under.
func (it *selectItem) key() string {
	switch {
	case it.Alias != "":
		return it.Alias
	case it.Kind == itemCount:
		return "count"
	case it.Agg != "":
		return it.Agg
	case len(it.JSON) > 0:
		return it.JSON[len(it.JSON)-1].Key
	}
	return it.Name
}

type scanner struct {
	s string
	i int
}

func (p *scanner) eof() bool           { return p.i >= len(p.s) }
func (p *scanner) peek() byte          { return p.s[p.i] }
func (p *scanner) has(pre string) bool { return strings.HasPrefix(p.s[p.i:], pre) }
func (p *scanner) consume(pre string) bool {
	if p.has(pre) {
		p.i += len(pre)
		return true
	}
	return false
}

// unexpected describes the character at the current position.
func (p *scanner) unexpected(expecting string) string {
	if p.eof() {
		return "unexpected end of input expecting " + expecting
	}
	r, _ := utf8.DecodeRuneInString(p.s[p.i:])
	return fmt.Sprintf("unexpected %q at position %d expecting %s", string(r), p.i+1, expecting)
}

// name reads a field name: "quoted" or a run of letters, digits, _, $,
// spaces and dashes not starting an arrow.
func (p *scanner) name() (string, bool) {
	if p.eof() {
		return "", false
	}
	if p.peek() == '"' {
		end := strings.IndexByte(p.s[p.i+1:], '"')
		if end < 0 {
			return "", false
		}
		n := p.s[p.i+1 : p.i+1+end]
		p.i += end + 2
		return n, n != ""
	}
	start := p.i
	for !p.eof() {
		r, size := utf8.DecodeRuneInString(p.s[p.i:])
		switch {
		case r == '-':
			if p.has("->") {
				return p.s[start:p.i], p.i > start
			}
		case r == '_' || r == '$' || r == ' ' || unicode.IsLetter(r) || unicode.IsDigit(r):
		default:
			return strings.TrimSpace(p.s[start:p.i]), strings.TrimSpace(p.s[start:p.i]) != ""
		}
		p.i += size
	}
	return strings.TrimSpace(p.s[start:p.i]), strings.TrimSpace(p.s[start:p.i]) != ""
}

// jsonPath reads zero or more -> / ->> steps.
func (p *scanner) jsonPath() ([]jsonStep, error) {
	var steps []jsonStep
	for p.has("->") {
		st := jsonStep{}
		if p.consume("->>") {
			st.Text = true
		} else {
			p.i += 2
		}
		if !p.eof() && p.peek() == '-' {
			// a negative array index
			j := p.i + 1
			for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
				j++
			}
			if j == p.i+1 {
				return nil, fmt.Errorf("%s", p.unexpected("a JSON key or array index"))
			}
			st.Key = p.s[p.i:j]
			p.i = j
		} else {
			k, ok := p.name()
			if !ok {
				return nil, fmt.Errorf("%s", p.unexpected("a JSON key or array index"))
			}
			st.Key = k
		}
		steps = append(steps, st)
	}
	return steps, nil
}

// castType reads a type name after "::": words of letters, digits and _,
// optionally followed by []. Only such names reach the SQL, inside CAST().
func (p *scanner) castType() (string, bool) {
	start := p.i
	for !p.eof() {
		c := p.peek()
		if c == '_' || c == ' ' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			p.i++
			continue
		}
		break
	}
	t := strings.TrimSpace(p.s[start:p.i])
	for p.consume("[]") {
		t += "[]"
	}
	if t == "" || strings.Contains(t, "  ") || !validCast(t) {
		return "", false
	}
	return t, true
}

func validCast(t string) bool {
	base := strings.TrimRight(t, "[]")
	if base == "" || !(base[0] == '_' || unicode.IsLetter(rune(base[0]))) {
		return false
	}
	return true
}

var aggregates = map[string]bool{"sum": true, "avg": true, "min": true, "max": true, "count": true}

// parseSelect parses the select parameter; "" means "*".
func parseSelect(s string) ([]*selectItem, error) {
	if strings.TrimSpace(s) == "" {
		return []*selectItem{{Kind: itemStar}}, nil
	}
	p := &scanner{s: s}
	items, err := p.selectList(0)
	if err != nil {
		return nil, parseErr("failed to parse select parameter ("+s+")", err.Error())
	}
	if !p.eof() {
		return nil, parseErr("failed to parse select parameter ("+s+")", p.unexpected("\",\" or end of input"))
	}
	return items, nil
}

func (p *scanner) selectList(depth int) ([]*selectItem, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("embedding nested more than %d levels", maxDepth)
	}
	var items []*selectItem
	for {
		it, err := p.selectItem(depth)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
		if p.eof() || p.peek() == ')' {
			return items, nil
		}
		if !p.consume(",") {
			return nil, fmt.Errorf("%s", p.unexpected("\",\""))
		}
	}
}

// selectItem reads one item: "*", a spread, a count(), an embed or a
// field.
func (p *scanner) selectItem(depth int) (*selectItem, error) {
	if p.consume("...") {
		return p.spread(depth)
	}
	if p.consume("*") {
		return &selectItem{Kind: itemStar}, nil
	}
	it, err := p.aliasedName()
	if err != nil {
		return nil, err
	}
	switch {
	case it.Name == "count" && p.consume("()"):
		it.Kind = itemCount
		err = p.cast(&it.AggCast)
	case !p.eof() && (p.peek() == '!' || p.peek() == '('):
		it.Kind = itemEmbed
		if err = p.hints(it); err == nil {
			err = p.children(it, depth, true)
		}
	default:
		err = p.fieldTail(it)
	}
	if err != nil {
		return nil, err
	}
	return it, nil
}

// spread reads "...name!hint(items)" after its "...".
func (p *scanner) spread(depth int) (*selectItem, error) {
	it := &selectItem{Kind: itemSpread}
	n, ok := p.name()
	if !ok {
		return nil, fmt.Errorf("%s", p.unexpected("a relation name after \"...\""))
	}
	it.Name = n
	if err := p.hints(it); err != nil {
		return nil, err
	}
	if err := p.children(it, depth, false); err != nil {
		return nil, err
	}
	return it, nil
}

// aliasedName reads "[alias:]name" ("::" is a cast, not an alias).
func (p *scanner) aliasedName() (*selectItem, error) {
	it := &selectItem{}
	n, ok := p.name()
	if !ok {
		return nil, fmt.Errorf("%s", p.unexpected("a field name, \"*\" or \"...\""))
	}
	if p.has(":") && !p.has("::") {
		p.i++
		it.Alias = n
		if p.has("...") {
			return nil, fmt.Errorf("%s", p.unexpected("a field name (a spread cannot have an alias)"))
		}
		if n, ok = p.name(); !ok {
			return nil, fmt.Errorf("%s", p.unexpected("a field name after the alias"))
		}
	}
	it.Name = n
	return it, nil
}

// fieldTail reads what may follow a field's name: a JSON path, a cast and
// an aggregate with its own cast ("->a->>b::int.sum()::text").
func (p *scanner) fieldTail(it *selectItem) error {
	steps, err := p.jsonPath()
	if err != nil {
		return err
	}
	it.JSON = steps
	if err := p.cast(&it.Cast); err != nil {
		return err
	}
	if !p.has(".") {
		return nil
	}
	p.i++
	start := p.i
	for !p.eof() && p.peek() >= 'a' && p.peek() <= 'z' {
		p.i++
	}
	agg := p.s[start:p.i]
	if !aggregates[agg] || !p.consume("()") {
		p.i = start
		return fmt.Errorf("%s", p.unexpected("an aggregate: sum(), avg(), min(), max() or count()"))
	}
	it.Agg = agg
	return p.cast(&it.AggCast)
}

// cast reads an optional "::type" into dst.
func (p *scanner) cast(dst *string) error {
	if !p.consume("::") {
		return nil
	}
	t, ok := p.castType()
	if !ok {
		return fmt.Errorf("%s", p.unexpected("a type name"))
	}
	*dst = t
	return nil
}

func (p *scanner) hints(it *selectItem) error {
	for p.consume("!") {
		h, ok := p.name()
		if !ok {
			return fmt.Errorf("%s", p.unexpected("a hint after \"!\""))
		}
		switch h {
		case "inner", "left":
			if it.JoinType != "" {
				return fmt.Errorf("more than one join type hint on %q", it.Name)
			}
			it.JoinType = h
		default:
			if it.Hint != "" {
				return fmt.Errorf("more than one relationship hint on %q", it.Name)
			}
			it.Hint = h
		}
	}
	return nil
}

// children reads the parenthesized select list of an embed or a spread
// into it; only an embed's may be empty.
func (p *scanner) children(it *selectItem, depth int, allowEmpty bool) error {
	if !p.consume("(") {
		return fmt.Errorf("%s", p.unexpected("\"(\""))
	}
	if !p.has(")") {
		children, err := p.selectList(depth + 1)
		if err != nil {
			return err
		}
		it.Children = children
	} else if !allowEmpty {
		return fmt.Errorf("%s", p.unexpected("a select list inside the spread"))
	}
	if !p.consume(")") {
		return fmt.Errorf("%s", p.unexpected("\")\""))
	}
	return nil
}
