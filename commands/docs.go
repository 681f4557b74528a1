package commands

import (
	"strings"

	"reddwarf/server"
)

// COMMAND DOCS "arguments" are derived from each spec's Args syntax line
// (the one README shows), so the table stays the single description of a
// command. The grammar is the one Redis documents its commands with:
//
//	key value [NX | XX] [EX seconds | PX milliseconds] [key ...]
//
// lower-case words are values, upper-case words are tokens (alone: a
// pure-token; followed by a value: the value's token), [ ] is optional,
// < > groups required alternatives (CLIENT TRACKING <ON | OFF> ...),
// | separates alternatives, and "x [x ...]" means x may repeat.

// docArg is one argument of COMMAND DOCS.
type docArg struct {
	name     string
	typ      string // key string integer double pure-token oneof block
	token    string
	optional bool
	multiple bool
	args     []docArg
}

// parseArgsDoc turns a syntax line into argument docs.
func parseArgsDoc(syntax string) []docArg {
	toks := tokenizeSyntax(syntax)
	args, _ := parseSyntaxSeq(toks, 0)
	return args
}

func tokenizeSyntax(s string) []string {
	s = strings.NewReplacer("[", " [ ", "]", " ] ", "<", " < ", ">", " > ", "|", " | ").Replace(s)
	return strings.Fields(s)
}

// parseSyntaxSeq parses items until a closing ] or > or the end;
// alternatives separated by | become one oneof argument.
func parseSyntaxSeq(toks []string, i int) ([]docArg, int) {
	var alts [][]docArg
	var cur []docArg
	for i < len(toks) && toks[i] != "]" && toks[i] != ">" {
		t := toks[i]
		switch {
		case t == "|":
			alts = append(alts, cur)
			cur = nil
			i++
		case t == "[":
			inner, j := parseSyntaxSeq(toks, i+1)
			i = j + 1 // past the ]
			// "x [x ...]": the group repeats the previous argument.
			if len(inner) >= 1 && len(cur) > 0 && inner[len(inner)-1].name == "..." {
				cur[len(cur)-1].multiple = true
				continue
			}
			if len(inner) == 1 {
				inner[0].optional = true
				cur = append(cur, inner[0])
			} else {
				cur = append(cur, docArg{name: blockName(inner), typ: "block", optional: true, args: inner})
			}
		case t == "<":
			inner, j := parseSyntaxSeq(toks, i+1)
			i = j + 1 // past the >
			if len(inner) == 1 {
				cur = append(cur, inner[0])
			} else {
				cur = append(cur, docArg{name: blockName(inner), typ: "block", args: inner})
			}
		case t == "...":
			cur = append(cur, docArg{name: "..."})
			i++
		case isToken(t):
			a := docArg{name: strings.ToLower(t), typ: "pure-token", token: t}
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
				choices = append(choices, docArg{name: blockName(alt), typ: "block", args: alt})
			}
		}
		return []docArg{{name: blockName(choices), typ: "oneof", args: choices}}, i
	}
	return cur, i
}

func isToken(t string) bool {
	return t == strings.ToUpper(t) && strings.ToLower(t) != t
}

func isValue(t string) bool {
	return t != "[" && t != "]" && t != "<" && t != ">" && t != "|" && t != "..." && !isToken(t)
}

func valueArg(t string) docArg {
	a := docArg{name: t, typ: "string"}
	switch {
	case strings.Contains(t, "key") || t == "source" || t == "destination":
		a.typ = "key"
	case t == "seconds" || t == "milliseconds" || t == "count" || t == "offset" || t == "start" ||
		t == "end" || t == "cursor" || t == "index1" || t == "index2" || t == "db" || t == "n" ||
		t == "increment" || t == "decrement" || t == "ttl" || t == "client-id" || strings.HasPrefix(t, "unix-time"):
		a.typ = "integer"
	}
	return a
}

func blockName(args []docArg) string {
	var names []string
	for _, a := range args {
		names = append(names, a.name)
	}
	return strings.Join(names, "-")
}

// replyDocArgs writes arguments as COMMAND DOCS does.
func replyDocArgs(r *server.Reply, args []docArg) {
	r.Array(len(args))
	for _, a := range args {
		n := 2
		if a.token != "" {
			n++
		}
		var flags []string
		if a.optional {
			flags = append(flags, "optional")
		}
		if a.multiple {
			flags = append(flags, "multiple")
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
		if a.token != "" {
			r.BulkString("token")
			r.BulkString(a.token)
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
