package server

import (
	"slices"
	"strings"
)

// Flag is a command property, with Redis's meaning (COMMAND INFO prints
// the lower-case names). The dispatcher's gates are driven by these flags so
// handlers never repeat the checks.
type Flag uint32

const (
	FlagWrite          Flag = 1 << iota // may modify the keyspace
	FlagReadonly                        // never modifies the keyspace
	FlagDenyOOM                         // may grow memory: refused with -OOM over maxmemory
	FlagAdmin                           // administrative (CONFIG, SHUTDOWN, DEBUG...)
	FlagPubsub                          // pub/sub related
	FlagNoscript                        // not allowed in scripts
	FlagBlocking                        // may block the client (GEN)
	FlagLoading                         // allowed while the dataset loads
	FlagStale                           // allowed on a stale replica
	FlagSkipMonitor                     // not shown to MONITOR
	FlagSkipSlowlog                     // not logged by SLOWLOG
	FlagFast                            // O(1) or O(log N)
	FlagNoAuth                          // allowed before AUTH
	FlagMayReplicate                    // may replicate
	FlagNoMulti                         // refused inside MULTI
	FlagAllowBusy                       // allowed while a script is busy
	FlagNoAsyncLoading                  // refused during an async load
	// FlagProtected: refused unless the directive enable-<name>-command
	// allows the client (DEBUG). COMMAND INFO does not print it, as Redis
	// hides its CMD_PROTECTED.
	FlagProtected
	// FlagMovableKeys: the keys' positions depend on the other arguments
	// (a numkeys count, a keyword): COMMAND GETKEYS must read the line.
	FlagMovableKeys
	// FlagModel: runs on the served model (GEN, TOKENIZE, MODEL...):
	// refused with "no model loaded" unless a registered subsystem serves
	// one (Hooks.Model), so handlers may take the model for granted.
	// Ours, not Redis's: COMMAND INFO does not print it.
	FlagModel
	// FlagQueueBehindJob: a write allowed on a key that a job is queued or
	// running on (server/doc.go, the BUSY rule): GEN and PREFILL queue
	// behind the job, CHECKPOINT only names a position of the state
	// readers see, FORK and COPY read their source and check their
	// destination themselves. Ours: COMMAND INFO does not print it.
	FlagQueueBehindJob
	// FlagNoMandatoryKeys: the command may name no key at all (EVAL with
	// numkeys 0): COMMAND GETKEYS replies an empty list for it.
	FlagNoMandatoryKeys
)

var flagNames = []struct {
	f    Flag
	name string
}{
	{FlagWrite, "write"}, {FlagReadonly, "readonly"}, {FlagDenyOOM, "denyoom"},
	{FlagAdmin, "admin"}, {FlagPubsub, "pubsub"}, {FlagNoscript, "noscript"},
	{FlagBlocking, "blocking"}, {FlagLoading, "loading"}, {FlagStale, "stale"},
	{FlagSkipMonitor, "skip_monitor"}, {FlagSkipSlowlog, "skip_slowlog"},
	{FlagFast, "fast"}, {FlagNoAuth, "no_auth"}, {FlagMayReplicate, "may_replicate"},
	{FlagNoMandatoryKeys, "no_mandatory_keys"}, {FlagNoMulti, "no_multi"}, {FlagAllowBusy, "allow_busy"}, {FlagNoAsyncLoading, "no_async_loading"},
	{FlagMovableKeys, "movablekeys"},
}

// FlagNames lists a flag set's names in COMMAND INFO order.
func (f Flag) Names() []string {
	var out []string
	for _, fn := range flagNames {
		if f&fn.f != 0 {
			out = append(out, fn.name)
		}
	}
	return out
}

// KeySpec gives the access flags of a command's keys (RO RW OW RM ACCESS
// UPDATE INSERT DELETE ...) and where they are, as Redis's "index" begin
// search + "range" find-keys spec. With Begin zero the spec covers the
// legacy positions FirstKey/LastKey/Step (the usual single spec). With
// Begin set (commands with several specs: BITOP, RENAME, COPY) the spec's
// keys run from argument Begin to LastKey arguments after it (LastKey < 0:
// counted from the end of the line), every Step-th (0 means 1). Notes is
// Redis's remark on the spec, printed by COMMAND INFO.
//
// Commands whose keys move (FlagMovableKeys) use Redis's other searches:
// Keyword (begin_search "keyword") starts the keys after the first
// argument equal to it, looked for from StartFrom on (negative: from the
// end, backwards); KeyNum (find_keys "keynum") reads the key count at the
// first position and the keys after it (BLMPOP's "numkeys key ..."); Limit
// splits a range whose end is relative to the line's end (XREAD's
// STREAMS a b 0 0: limit 2, the first half are keys). Unknown is a spec
// Redis can't place (SORT's BY/GET/STORE): the command's GetKeys does.
type KeySpec struct {
	Flags     []string
	Begin     int
	LastKey   int
	Step      int
	Notes     string
	Keyword   string
	StartFrom int
	KeyNum    bool
	Limit     int
	Unknown   bool
}

// movable reports whether ks is placed by the line's content.
func (ks KeySpec) movable() bool { return ks.Keyword != "" || ks.KeyNum || ks.Unknown || ks.Limit > 1 }

// Keys returns the argument indexes ks covers in args (args[0] is the
// command name), nil when the line does not fit it (a numkeys that is not
// a positive count of the arguments that follow).
func (ks KeySpec) Keys(args [][]byte) []int {
	begin := ks.Begin
	switch {
	case ks.Unknown:
		return nil
	case ks.Keyword != "":
		begin = 0
		if ks.StartFrom >= 0 {
			for i := ks.StartFrom; i < len(args); i++ {
				if EqualFold(args[i], ks.Keyword) {
					begin = i + 1
					break
				}
			}
		} else {
			for i := len(args) + ks.StartFrom; i > 0; i-- {
				if EqualFold(args[i], ks.Keyword) {
					begin = i + 1
					break
				}
			}
		}
		if begin == 0 || begin >= len(args) {
			return nil
		}
	}
	step := max(ks.Step, 1)
	first, last := begin, 0
	switch {
	case ks.KeyNum:
		if begin >= len(args) {
			return nil
		}
		n, ok := ParseInt(args[begin])
		if !ok || n < 1 || n > int64(len(args)-begin-1) {
			return nil
		}
		first = begin + 1
		last = first + (int(n)-1)*step
	case ks.LastKey >= 0:
		last = begin + ks.LastKey
	case ks.Limit > 1:
		last = begin + (len(args)-begin)/ks.Limit + ks.LastKey
	default:
		last = len(args) + ks.LastKey
	}
	var out []int
	for i := first; i <= last && i < len(args); i += step {
		out = append(out, i)
	}
	return out
}

// Spec is one command: a table entry plus its handler. The table is the
// data COMMAND, COMMAND DOCS and the dispatcher read.
type Spec struct {
	Name       string // lower case, as COMMAND prints it
	Arity      int    // argument count incl. the name; negative = at least -Arity
	Flags      Flag
	FirstKey   int // legacy key positions (COMMAND INFO first/last/step)
	LastKey    int
	Step       int
	KeySpecs   []KeySpec
	Group      string // generic string connection server pubsub transactions session persistence
	Summary    string
	Since      string
	Complexity string
	Args       string // syntax after the name, for docs and README
	// COMMAND DOCS facts beyond the summary, printed only when set.
	DocFlags        []string    // "deprecated", "syscmd"
	DeprecatedSince string      // version
	ReplacedBy      string      // what to use instead
	History         [][2]string // {version, what changed}, oldest first
	Tips            []string
	ACL             []string // extra ACL categories (beyond those derived from group/flags)
	Handler         func(*Ctx)
	Sub             []*Spec // subcommands (CONFIG GET ...), each with Name "config|get"
	// GetKeys, when set, returns the key argument indexes for commands whose
	// keys the positions above can't express.
	GetKeys func(args [][]byte) []int
	// KeyFlags, when set, gives the access flags of the key at args[i] for
	// commands whose flags depend on their other arguments (Redis's getkeys
	// procs; their key spec says VARIABLE_FLAGS): SET is OW UPDATE, or
	// RW ACCESS UPDATE with GET. Nil: the flags of the key spec covering i.
	// COMMAND GETKEYSANDFLAGS reads it.
	KeyFlags func(args [][]byte, i int) []string

	stat *CmdStat // this command's INFO commandstats counters
}

// KeyIndexes returns the positions of the key arguments in args (args[0] is
// the command name).
func (s *Spec) KeyIndexes(args [][]byte) []int {
	if s.GetKeys != nil {
		return s.GetKeys(args)
	}
	if s.Flags&FlagMovableKeys != 0 {
		var out []int
		for _, ks := range s.KeySpecs {
			k := ks.Keys(args)
			if k == nil && ks.KeyNum {
				return nil // a numkeys that doesn't fit: the whole line is invalid
			}
			out = append(out, k...)
		}
		return out
	}
	if s.FirstKey <= 0 {
		return nil
	}
	last := s.LastKey
	if last < 0 {
		last = len(args) + last
	}
	var out []int
	step := s.Step
	if step <= 0 {
		step = 1
	}
	for i := s.FirstKey; i <= last && i < len(args); i += step {
		out = append(out, i)
	}
	return out
}

// readsValues reports whether any of the command's keys is read or
// changed in place (a key spec with RW or ACCESS), as opposed to only
// tested, overwritten or removed (RO, OW, RM).
func (s *Spec) readsValues() bool {
	for _, ks := range s.KeySpecs {
		for _, f := range ks.Flags {
			if f == "RW" || f == "ACCESS" {
				return true
			}
		}
	}
	return false
}

// ACLCategories derives Redis's ACL categories from the group and flags.
func (s *Spec) ACLCategories() []string {
	var out []string
	add := func(c string) {
		for _, x := range out {
			if x == c {
				return
			}
		}
		out = append(out, c)
	}
	if len(s.Sub) > 0 && s.Handler == nil || s.Name == "pubsub|help" {
		// Containers (and, oddly, PUBSUB HELP): Redis files them under @slow only.
		out = append(out, "@slow")
		return out
	}
	switch s.Group {
	case "generic":
		add("@keyspace")
	case "string":
		add("@string")
	case "connection":
		add("@connection")
	case "pubsub":
		add("@pubsub")
	case "transactions":
		add("@transaction")
	case "session":
		add("@session")
	case "hash":
		add("@hash")
	case "list":
		add("@list")
	case "set":
		add("@set")
	case "sorted-set":
		add("@sortedset")
	case "stream":
		add("@stream")
	case "scripting":
		add("@scripting")
	}
	if s.Flags&FlagWrite != 0 {
		add("@write")
	}
	if s.Flags&FlagReadonly != 0 && s.Group != "connection" && s.Group != "server" && s.Group != "scripting" {
		add("@read")
	}
	if s.Flags&FlagAdmin != 0 {
		add("@admin")
		add("@dangerous")
	}
	if s.Flags&FlagFast != 0 {
		add("@fast")
	} else {
		add("@slow")
	}
	if s.Flags&FlagBlocking != 0 {
		add("@blocking")
	}
	for _, c := range s.ACL {
		if c[0] == '-' {
			// "-@keyspace": a category the group implies but Redis leaves
			// out (SORT is generic yet not @keyspace).
			out = slices.DeleteFunc(out, func(x string) bool { return x == c[1:] })
			continue
		}
		add(c)
	}
	// Redis prints categories in the order of its category bits.
	rank := func(c string) int {
		for i, k := range aclOrder {
			if k == c {
				return i
			}
		}
		return len(aclOrder)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && rank(out[j]) < rank(out[j-1]); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

var aclOrder = []string{"@keyspace", "@read", "@write", "@set", "@sortedset", "@list", "@hash", "@string", "@bitmap", "@hyperloglog", "@geo", "@stream", "@pubsub", "@admin", "@fast", "@slow", "@blocking", "@dangerous", "@connection", "@transaction", "@scripting"}

// CommandTable maps lower-case names to specs.
type CommandTable struct {
	byName map[string]*Spec
	order  []*Spec
}

// Register adds specs. A duplicate or malformed entry is a programmer error
// and panics at start-up, never at run time.
func (t *CommandTable) Register(specs ...*Spec) {
	if t.byName == nil {
		t.byName = map[string]*Spec{}
	}
	for _, s := range specs {
		if s.Name == "" || (s.Handler == nil && len(s.Sub) == 0) {
			panic("server: command spec without name or handler: " + s.Name)
		}
		if s.Name != strings.ToLower(s.Name) {
			panic("server: command name must be lower case: " + s.Name)
		}
		if _, dup := t.byName[s.Name]; dup {
			panic("server: duplicate command " + s.Name)
		}
		t.byName[s.Name] = s
		t.order = append(t.order, s)
	}
}

// Lookup finds a command by name, any case.
func (t *CommandTable) Lookup(name []byte) *Spec {
	var buf [32]byte
	if len(name) <= len(buf) {
		b := buf[:len(name)]
		for i, c := range name {
			b[i] = lower(c)
		}
		return t.byName[string(b)]
	}
	return t.byName[strings.ToLower(string(name))]
}

// All returns every command in registration order.
func (t *CommandTable) All() []*Spec { return t.order }

// Subcommand finds a subcommand spec by its name after the '|'.
func (s *Spec) Subcommand(name []byte) *Spec {
	for _, sub := range s.Sub {
		if i := strings.IndexByte(sub.Name, '|'); i >= 0 && EqualFold(name, sub.Name[i+1:]) {
			return sub
		}
	}
	return nil
}
