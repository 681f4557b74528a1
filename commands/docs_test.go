package commands

import (
	"fmt"
	"testing"
)

func describe(args []docArg) string {
	s := ""
	for _, a := range args {
		s += fmt.Sprintf("(%s %s", a.name, a.typ)
		if a.token != "" {
			s += " token=" + a.token
		}
		if a.since != "" {
			s += " since=" + a.since
		}
		if a.optional {
			s += " optional"
		}
		if a.multiple {
			s += " multiple"
		}
		if a.multipleToken {
			s += " multiple_token"
		}
		if len(a.args) > 0 {
			s += " " + describe(a.args)
		}
		s += ")"
	}
	return s
}

func TestParseArgsDoc(t *testing.T) {
	cases := map[string]string{
		"key":                                       "(key key)",
		"key [key ...]":                             "(key key multiple)",
		"key value [NX | XX]":                       "(key key)(value string)(nx_xx oneof optional (nx pure-token token=NX)(xx pure-token token=XX))",
		"cursor [MATCH pattern] [COUNT count]":      "(cursor integer)(pattern pattern token=MATCH optional)(count integer token=COUNT optional)",
		"key [EX seconds | PERSIST]":                "(key key)(seconds_persist oneof optional (seconds integer token=EX)(persist pure-token token=PERSIST))",
		"key value [key value ...]":                 "(key_value block multiple (key key)(value string))",
		"<ON | OFF> [REDIRECT client-id]":           "(on_off oneof (on pure-token token=ON)(off pure-token token=OFF))(client-id integer token=REDIRECT optional)",
		"key increment:double":                      "(key key)(increment double)",
		"[condition: NX | XX]@7.0.0 [GET]@6.2.0":    "(condition oneof since=7.0.0 optional (nx pure-token token=NX)(xx pure-token token=XX))(get pure-token token=GET since=6.2.0 optional)",
		"key [index: start end [BYTE | BIT]]":       "(key key)(index block optional (start integer)(end integer)(byte_bit oneof optional (byte pure-token token=BYTE)(bit pure-token token=BIT)))",
		"enabled: ON | OFF":                         "(enabled oneof (on pure-token token=ON)(off pure-token token=OFF))",
		"key [STOP text [STOP text ...]]":           "(key key)(text string token=STOP optional multiple multiple_token)",
		"key [GET enc offset [GET enc offset ...]]": "(key key)(enc_offset block token=GET optional multiple multiple_token (enc string)(offset integer))",
		"ip:port [EX seconds@2.6.12]":               "(ip:port string)(seconds integer token=EX since=2.6.12 optional)",
	}
	for in, want := range cases {
		if got := describe(parseArgsDoc(in)); got != want {
			t.Errorf("%q:\n got  %s\n want %s", in, got, want)
		}
	}
}

// Every command's syntax line must parse into something.
func TestEverySpecDocuments(t *testing.T) {
	for _, s := range All(nil, nil) {
		if s.Args != "" && len(parseArgsDoc(s.Args)) == 0 {
			t.Errorf("%s: syntax %q gives no arguments", s.Name, s.Args)
		}
		var check func(args []docArg)
		check = func(args []docArg) {
			for _, a := range args {
				if a.typ == "" || a.name == "..." {
					t.Errorf("%s: syntax %q gives an untyped argument %q", s.Name, s.Args, a.name)
				}
				check(a.args)
			}
		}
		check(parseArgsDoc(s.Args))
		for _, sub := range s.Sub {
			check(parseArgsDoc(sub.Args))
		}
	}
}
