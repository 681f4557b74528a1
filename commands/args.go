package commands

import (
	"math"

	"reddwarf/server"
)

// intArg parses argument i as a 64-bit integer or returns Redis's error.
func intArg(x *server.Ctx, i int) (int64, error) {
	n, ok := server.ParseInt(x.Args[i])
	if !ok {
		return 0, server.ErrNotInteger
	}
	return n, nil
}

// floatArg parses argument i as a float.
func floatArg(x *server.Ctx, i int) (float64, error) {
	f, ok := server.ParseFloat(x.Args[i])
	if !ok {
		return 0, server.ErrNotFloat
	}
	return f, nil
}

func is(arg []byte, kw string) bool { return server.EqualFold(arg, kw) }

// lookupString returns key's string value for a read: nil if missing,
// ErrWrongType if it holds another type.
func lookupString(x *server.Ctx, key string) (*server.Object, error) {
	o := x.DB.Lookup(key)
	if o == nil {
		return nil, nil
	}
	if o.Type != server.TypeString {
		return nil, server.ErrWrongType
	}
	return o, nil
}

// dbArg parses a database index argument.
func dbArg(x *server.Ctx, i int) (*server.DB, error) {
	n, ok := server.ParseInt(x.Args[i])
	if !ok {
		return nil, server.ErrNotInteger
	}
	if n < 0 || n >= int64(len(x.S.DBs)) || n > math.MaxInt32 {
		return nil, server.ErrDBIndex
	}
	return x.S.DBs[n], nil
}

// keys builds the usual one-range key spec.
func keys(flags ...string) []server.KeySpec { return []server.KeySpec{{Flags: flags}} }

// sourceDest builds the key specs of a command whose argument 1 is a
// source key and argument 2 a destination (RENAME, COPY): one spec each,
// as Redis gives them, so each key has its own access flags.
func sourceDest(src, dst []string) []server.KeySpec {
	return []server.KeySpec{{Flags: src, Begin: 1}, {Flags: dst, Begin: 2}}
}
