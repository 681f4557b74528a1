// Package jsonmask constrains sampling to JSON: a Matcher follows the
// bytes of a reply as a pushdown automaton over JSON's grammar (or over a
// JSON Schema subset) and says which next bytes keep it a prefix of a
// valid document; a Masker turns that into a per-step token mask over a
// vocabulary, so a GEN … JSON or … SCHEMA reply always parses, and
// validates.
//
// Objects and arrays nest at most MaxNesting deep in a reply, and a
// number has at most 16 integer digits, 16 fraction digits and a 2-digit
// exponent (it fits a float64; an integer, an int64). The schema
// subset: "type" object, array, string, number, integer,
// boolean, null (one type, not a list); "properties" and "required" (an
// object takes only its listed properties, each at most once, as if
// "additionalProperties" were false; one with neither takes any
// properties); "items"; "enum" (any JSON values,
// matched as their compact encodings). A schema without "type" is
// inferred from properties, items or enum, else any JSON value.
// Annotations ($schema, title, description, default, examples, strict,
// additionalProperties false) are ignored; any other keyword is refused,
// since the reply could not be guaranteed to satisfy it.
//
// A reply is never cut off mid-value by its token budget when the caller
// passes the tokens left (Masker.Mask): once only the shortest completion
// still fits, only its bytes are allowed, one token per byte at worst.
package jsonmask

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Limits on a schema.
const (
	maxProperties = 64 // an object's properties (a bit each in a frame)
	maxEnum       = 64 // an enum's values
	maxDepth      = 32 // nesting of schemas
	maxNodes      = 4096
)

type typ uint8

const (
	tAny typ = iota
	tString
	tNumber
	tInteger
	tBool
	tNull
	tObject
	tArray
	tEnum
)

// node is one compiled schema.
type node struct {
	id       uint32
	t        typ
	props    []*node  // object: property schemas, by name order
	keys     []string // object: the properties' encoded names, `"name"`
	required uint64   // object: bits of props that must appear
	open     bool     // object: no properties or required given, so any object
	items    *node    // array
	lits     []string // enum: compact encodings; bool: true, false
}

// Schema is a compiled JSON Schema (or "any JSON"). Safe for concurrent
// use.
type Schema struct {
	root  *node
	nodes int
	// key tells masks of different schemas apart in a shared cache.
	key string
	// prefixes (one of them) and suffix are text around the document
	// (WithAffixes, WithPrefixes).
	prefixes []string
	suffix   string
	// segs, when set, are a Sequence's parts (root, prefixes and suffix
	// unused).
	segs []seg
}

// WithAffixes returns s with literal text before and after the document:
// a tool call's "<tool_call>\n" and "\n</tool_call>".
func (s *Schema) WithAffixes(prefix, suffix string) *Schema {
	var ps []string
	if prefix != "" {
		ps = []string{prefix}
	}
	c, _ := s.WithPrefixes(ps, suffix)
	return c
}

// MaxPrefixes bounds WithPrefixes' choices (a bit each in a frame).
const MaxPrefixes = 64

// WithPrefixes returns s with one of prefixes before the document and
// suffix after it: a call whose function's name precedes its arguments
// ("<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>"), one prefix per name
// the reply may call. No prefix may be a proper prefix of another (the
// document would not know where it starts).
func (s *Schema) WithPrefixes(prefixes []string, suffix string) (*Schema, error) {
	if len(prefixes) > MaxPrefixes {
		return nil, fmt.Errorf("at most %d prefixes", MaxPrefixes)
	}
	for i, a := range prefixes {
		for k, b := range prefixes {
			if i != k && len(a) < len(b) && strings.HasPrefix(b, a) || a == "" && len(prefixes) > 1 {
				return nil, fmt.Errorf("prefix %q begins prefix %q", a, b)
			}
		}
	}
	c := *s
	c.prefixes, c.suffix = prefixes, suffix
	c.key = digest(fmt.Sprintf("%q%q", prefixes, suffix) + s.key)
	return &c, nil
}

// AnyJSON is the schema every JSON value satisfies.
func AnyJSON() *Schema { return &Schema{root: &node{t: tAny}, nodes: 1, key: "any"} }

// nullLits and boolLits are the literals of null and boolean.
var (
	boolLits = []string{"true", "false"}
	nullLits = []string{"null"}
	anyLits  = []string{"true", "false", "null"}
)

// Compile reads a JSON Schema in the supported subset.
func Compile(src []byte) (*Schema, error) {
	d := json.NewDecoder(bytes.NewReader(src))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fmt.Errorf("schema is not JSON: %v", err)
	}
	if d.More() {
		return nil, errors.New("schema is not JSON: trailing data")
	}
	s := &Schema{}
	root, err := s.compile(v, 0, "schema")
	if err != nil {
		return nil, err
	}
	s.root = root
	var compact bytes.Buffer
	if json.Compact(&compact, src) == nil {
		s.key = digest("schema:" + compact.String())
	} else {
		s.key = digest("schema:" + string(src))
	}
	return s, nil
}

// digest shortens a schema's text to a cache key: equal schemas share
// masks, and every step hashes a short key, not the whole schema.
func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return string(h[:16])
}

// ignored are the keywords that do not constrain a value.
var ignored = map[string]bool{"$schema": true, "$id": true, "title": true, "description": true, "default": true,
	"examples": true, "strict": true, "$comment": true}

func (s *Schema) compile(v any, depth int, at string) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("%s: schemas nested deeper than %d", at, maxDepth)
	}
	if s.nodes++; s.nodes > maxNodes {
		return nil, fmt.Errorf("schema has more than %d subschemas", maxNodes)
	}
	n := &node{id: uint32(s.nodes)}
	if b, ok := v.(bool); ok && b {
		n.t = tAny // true: anything
		return n, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: a schema must be an object", at)
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch k {
		case "type", "properties", "required", "items", "enum":
		case "additionalProperties":
			if b, ok := m[k].(bool); !ok || b {
				return nil, fmt.Errorf("%s: additionalProperties: only false is supported (an object takes only its listed properties)", at)
			}
		default:
			if !ignored[k] {
				return nil, fmt.Errorf("%s: keyword %q is not supported (supported: type, properties, required, items, enum)", at, k)
			}
		}
	}
	t, hasType := m["type"]
	switch {
	case hasType:
		ts, ok := t.(string)
		if !ok {
			return nil, fmt.Errorf("%s: type must be one string", at)
		}
		switch ts {
		case "string":
			n.t = tString
		case "number":
			n.t = tNumber
		case "integer":
			n.t = tInteger
		case "boolean":
			n.t, n.lits = tBool, boolLits
		case "null":
			n.t, n.lits = tBool, nullLits
		case "object":
			n.t = tObject
		case "array":
			n.t = tArray
		default:
			return nil, fmt.Errorf("%s: unknown type %q", at, ts)
		}
	case m["properties"] != nil || m["required"] != nil:
		n.t = tObject
	case m["items"] != nil:
		n.t = tArray
	}
	if e, ok := m["enum"]; ok {
		vals, ok := e.([]any)
		if !ok || len(vals) == 0 || len(vals) > maxEnum {
			return nil, fmt.Errorf("%s: enum must be an array of 1 to %d values", at, maxEnum)
		}
		for _, val := range vals {
			b, err := json.Marshal(val)
			if err != nil {
				return nil, fmt.Errorf("%s: enum: %v", at, err)
			}
			if hasType && !typeAllows(n.t, val) {
				return nil, fmt.Errorf("%s: enum value %s is not of the schema's type", at, b)
			}
			n.lits = append(n.lits, string(b))
		}
		n.t = tEnum
		return n, nil
	}
	if (m["properties"] != nil || m["required"] != nil) && n.t != tObject {
		return nil, fmt.Errorf("%s: properties and required need type object", at)
	}
	if m["items"] != nil && n.t != tArray {
		return nil, fmt.Errorf("%s: items needs type array", at)
	}
	switch n.t {
	case tObject:
		n.open = m["properties"] == nil && m["required"] == nil && m["additionalProperties"] != false
		props, _ := m["properties"].(map[string]any)
		if m["properties"] != nil && props == nil {
			return nil, fmt.Errorf("%s: properties must be an object", at)
		}
		if len(props) > maxProperties {
			return nil, fmt.Errorf("%s: more than %d properties", at, maxProperties)
		}
		pn := make([]string, 0, len(props))
		for k := range props {
			pn = append(pn, k)
		}
		sort.Strings(pn)
		for _, k := range pn {
			c, err := s.compile(props[k], depth+1, at+".properties."+k)
			if err != nil {
				return nil, err
			}
			enc, _ := json.Marshal(k)
			n.props = append(n.props, c)
			n.keys = append(n.keys, string(enc))
		}
		if r, ok := m["required"]; ok {
			rl, ok := r.([]any)
			if !ok {
				return nil, fmt.Errorf("%s: required must be an array of property names", at)
			}
			for _, x := range rl {
				name, _ := x.(string)
				i := sort.SearchStrings(pn, name)
				if i == len(pn) || pn[i] != name {
					return nil, fmt.Errorf("%s: required property %q is not in properties", at, name)
				}
				n.required |= 1 << i
			}
		}
	case tArray:
		if it, ok := m["items"]; ok {
			c, err := s.compile(it, depth+1, at+".items")
			if err != nil {
				return nil, err
			}
			n.items = c
		}
	}
	return n, nil
}

// typeAllows reports whether val (decoded with UseNumber) is of type t.
func typeAllows(t typ, val any) bool {
	switch v := val.(type) {
	case string:
		return t == tString
	case json.Number:
		if t == tInteger {
			return !strings.ContainsAny(string(v), ".eE")
		}
		return t == tNumber
	case bool:
		return t == tBool
	case nil:
		return t == tBool // type null compiles to a literal too
	case map[string]any:
		return t == tObject
	case []any:
		return t == tArray
	}
	return false
}

// minimal is the shortest value n accepts.
func (n *node) minimal() string {
	switch n.t {
	case tString:
		return `""`
	case tBool, tEnum:
		best := n.lits[0]
		for _, l := range n.lits[1:] {
			if len(l) < len(best) {
				best = l
			}
		}
		return best
	case tObject:
		var b strings.Builder
		b.WriteByte('{')
		first := true
		for i, p := range n.props {
			if n.required&(1<<i) == 0 {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(n.keys[i] + ":" + p.minimal())
		}
		b.WriteByte('}')
		return b.String()
	case tArray:
		return "[]"
	}
	return "0" // any, number, integer
}
