package commands

import (
	"strings"

	"reddwarf/server"
)

// COMMAND DOCS "arguments" are derived from each spec's Args syntax line,
// so the table stays the single description of a command. The grammar is
// the one Redis documents its commands with:
//
//	key value [NX | XX] [EX seconds | PX milliseconds] [key ...]
//
// lower-case words are values, upper-case words are tokens (alone: a
// pure-token; followed by a value: the value's token), [ ] is optional,
// < > groups required alternatives (CLIENT TRACKING <ON | OFF> ...),
// | separates alternatives, and "x [x ...]" means x may repeat ("k v
// [k v ...]": the pair, as one block named k_v). Three marks carry what the
// syntax alone can't, so DOCS prints what Redis 7.0 prints:
//
//	increment:double        a value's type, where its name doesn't say it
//	                        (integer double key pattern unix-time string)
//	[condition: NX | XX]    the name of a group (a oneof, or a block)
//	[GET]@6.2.0             the version that added the argument before it
//
// A key argument's key_spec_index is not written: it is the key spec of
// the command that covers the argument's position (commandDocArgs).

// docArg is one argument of COMMAND DOCS.
type docArg struct {
	name     string
	typ      string // key string integer double pattern unix-time pure-token oneof block
	token    string
	since    string
	keySpec  int // key_spec_index of a key argument, -1 when unknown
	optional bool
	multiple bool
	// multipleToken: each repetition repeats the token ("[STOP text [STOP
	// text ...]]" takes STOP a STOP b, not STOP a b), which is how
	// clients print the syntax back.
	multipleToken bool
	args          []docArg
}

// docTypes are the value types a name:type mark may give.
var docTypes = map[string]bool{"string": true, "integer": true, "double": true, "key": true, "pattern": true, "unix-time": true}

// parseArgsDoc turns a syntax line into argument docs.
func parseArgsDoc(syntax string) []docArg {
	toks := tokenizeSyntax(syntax)
	args, _ := parseSyntaxSeq(toks, 0)
	return args
}

func tokenizeSyntax(s string) []string {
	s = strings.NewReplacer("[", " [ ", "]", " ] ", "<", " < ", ">", " > ", "|", " | ", "@", " @").Replace(s)
	return strings.Fields(s)
}

// parseSyntaxSeq parses items until a closing ] or > or the end;
// alternatives separated by | become one oneof argument. A leading
// "name:" names the group the sequence makes.
func parseSyntaxSeq(toks []string, i int) ([]docArg, int) {
	var alts [][]docArg
	var cur []docArg
	label := ""
	if i < len(toks) && len(toks[i]) > 1 && strings.HasSuffix(toks[i], ":") {
		label = strings.TrimSuffix(toks[i], ":")
		i++
	}
	named := func(name string) string {
		if label != "" {
			return label
		}
		return name
	}
	for i < len(toks) && toks[i] != "]" && toks[i] != ">" {
		t := toks[i]
		switch {
		case t == "|":
			alts = append(alts, cur)
			cur = nil
			i++
		case strings.HasPrefix(t, "@") && len(cur) > 0:
			cur[len(cur)-1].since = t[1:]
			i++
		case t == "[":
			inner, j := parseSyntaxSeq(toks, i+1)
			i = j + 1 // past the ]
			// "x [x ...]": the group repeats the previous argument;
			// "k v [k v ...]" the previous ones, as one block.
			if n := len(inner) - 1; n >= 1 && inner[n].name == "..." && n <= len(cur) {
				rep := cur[len(cur)-n:]
				repeatsToken := rep[0].token != "" && inner[0].token == rep[0].token
				if n == 1 {
					rep[0].multiple, rep[0].multipleToken = true, repeatsToken
					continue
				}
				block := docArg{name: blockName(rep, "_"), typ: "block", keySpec: -1, multiple: true, multipleToken: repeatsToken, args: append([]docArg(nil), rep...)}
				if repeatsToken {
					// The token is the block's (GET encoding offset), as
					// Redis documents BITFIELD_RO.
					block.token = rep[0].token
					block.args[0].token = ""
				}
				cur = append(cur[:len(cur)-n], block)
				continue
			}
			if len(inner) == 1 {
				inner[0].optional = true
				cur = append(cur, inner[0])
			} else {
				cur = append(cur, docArg{name: blockName(inner, "_"), typ: "block", keySpec: -1, optional: true, args: inner})
			}
		case t == "<":
			inner, j := parseSyntaxSeq(toks, i+1)
			i = j + 1 // past the >
			if len(inner) == 1 {
				cur = append(cur, inner[0])
			} else {
				cur = append(cur, docArg{name: blockName(inner, "_"), typ: "block", keySpec: -1, args: inner})
			}
		case t == "...":
			cur = append(cur, docArg{name: "...", keySpec: -1})
			i++
		case isToken(t):
			a := docArg{name: strings.ToLower(t), typ: "pure-token", token: t, keySpec: -1}
			if i+1 < len(toks) && isValue(toks[i+1]) {
				a = valueArg(toks[i+1])
				a.token = t
				i++
			}
			cur = append(cur, a)
			i++
		default:
			cur = append(cur, valueArg(t))
			i++
		}
	}
	if len(alts) > 0 {
		alts = append(alts, cur)
		var choices []docArg
		for _, alt := range alts {
			if len(alt) == 1 {
				choices = append(choices, alt[0])
			} else {
				choices = append(choices, docArg{name: blockName(alt, "_"), typ: "block", keySpec: -1, args: alt})
			}
		}
		return []docArg{{name: named(blockName(choices, "_")), typ: "oneof", keySpec: -1, args: choices}}, i
	}
	if label != "" && len(cur) > 1 {
		return []docArg{{name: label, typ: "block", keySpec: -1, args: cur}}, i
	}
	if label != "" && len(cur) == 1 {
		cur[0].name = label
	}
	return cur, i
}

func isToken(t string) bool {
	return t == strings.ToUpper(t) && strings.ToLower(t) != t
}

func isValue(t string) bool {
	return t != "[" && t != "]" && t != "<" && t != ">" && t != "|" && t != "..." && !isToken(t) && !strings.HasPrefix(t, "@")
}

// valueArg is a value word's argument: its type from a name:type mark, or
// guessed from its name.
func valueArg(t string) docArg {
	if i := strings.LastIndexByte(t, ':'); i > 0 && docTypes[t[i+1:]] {
		return docArg{name: t[:i], typ: t[i+1:], keySpec: -1}
	}
	a := docArg{name: t, typ: "string", keySpec: -1}
	switch {
	case strings.Contains(t, "key") || t == "source" || t == "destination":
		a.typ = "key"
	case t == "pattern":
		a.typ = "pattern"
	case strings.HasPrefix(t, "unix-time"):
		a.typ = "unix-time"
	case t == "seconds" || t == "milliseconds" || t == "count" || t == "offset" || t == "start" ||
		t == "end" || t == "cursor" || t == "index1" || t == "index2" || t == "db" || t == "n" ||
		t == "increment" || t == "decrement" || t == "ttl" || t == "client-id":
		a.typ = "integer"
	}
	return a
}

func blockName(args []docArg, sep string) string {
	var names []string
	for _, a := range args {
		names = append(names, a.name)
	}
	return strings.Join(names, sep)
}

// commandDocArgs is s's arguments for COMMAND DOCS: its syntax line's, each
// key argument given the index of the key spec covering its position.
// Positions are known up to the first optional or repeated argument; the
// keys of Redis's commands all come before those.
func commandDocArgs(s *server.Spec) []docArg {
	args := parseArgsDoc(s.Args)
	pos := 1 + strings.Count(s.Name, "|") // a subcommand's arguments follow its name
	var walk func(args []docArg) bool
	walk = func(args []docArg) bool {
		for i := range args {
			a := &args[i]
			switch a.typ {
			case "key":
				a.keySpec = keySpecIndexAt(s, pos)
			case "block":
				if !walk(a.args) {
					return false
				}
				pos--
			case "oneof":
				return false
			}
			if a.optional || a.multiple {
				return false
			}
			pos++
		}
		return true
	}
	walk(args)
	return args
}

// keySpecIndexAt is the index of s's key spec that covers argument pos
// (counted from the command name, 0), or -1.
func keySpecIndexAt(s *server.Spec, pos int) int {
	if s.FirstKey <= 0 && len(s.KeySpecs) == 0 {
		return -1
	}
	specs := s.KeySpecs
	if len(specs) == 0 {
		specs = []server.KeySpec{{}}
	}
	for i, ks := range specs {
		if ks.KeyNum && pos > ks.Begin {
			return i // "numkeys key [key ...]": the keys follow the count
		}
		if ks.Keyword != "" || ks.Unknown || ks.KeyNum {
			continue
		}
		begin, last, _ := keySpecRange(s, ks)
		if pos >= begin && (last < 0 || pos <= begin+last) {
			return i
		}
	}
	return -1
}

// replyDocArgs writes arguments as COMMAND DOCS does.
func replyDocArgs(r *server.Reply, args []docArg) {
	r.Array(len(args))
	for _, a := range args {
		n := 2
		if a.keySpec >= 0 {
			n++
		}
		if a.token != "" {
			n++
		}
		if a.since != "" {
			n++
		}
		var flags []string
		if a.optional {
			flags = append(flags, "optional")
		}
		if a.multiple {
			flags = append(flags, "multiple")
		}
		if a.multipleToken {
			flags = append(flags, "multiple_token")
		}
		if len(flags) > 0 {
			n++
		}
		if len(a.args) > 0 {
			n++
		}
		r.Map(n)
		r.BulkString("name")
		r.BulkString(a.name)
		r.BulkString("type")
		r.BulkString(a.typ)
		if a.keySpec >= 0 {
			r.BulkString("key_spec_index")
			r.Int(int64(a.keySpec))
		}
		if a.token != "" {
			r.BulkString("token")
			r.BulkString(a.token)
		}
		if a.since != "" {
			r.BulkString("since")
			r.BulkString(a.since)
		}
		if len(flags) > 0 {
			r.BulkString("flags")
			r.Set(len(flags))
			for _, f := range flags {
				r.Status(f)
			}
		}
		if len(a.args) > 0 {
			r.BulkString("arguments")
			replyDocArgs(r, a.args)
		}
	}
}
