package server

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tidwall/redcon"
)

// Version is reddwarf's own version (INFO reddwarf_version); redis_version
// stays 7.0.0 so clients enable the features they check for.
const Version = "0.1.0"

// RedisVersion is what INFO server's redis_version and HELLO report.
const RedisVersion = "7.0.0"

// Server is the whole process state. The loop goroutine (loop.go) owns the
// keyspace, the clients' loop-owned fields, pub/sub and every engine, and
// on Linux does its clients' socket I/O itself (poller_linux.go); other
// goroutines talk to it only through the requests and events channels.
type Server struct {
	Config   *Config
	Commands CommandTable
	DBs      []*DB

	clients  map[uint64]*Client
	nclients atomic.Int64 // for maxclients, checked at accept time
	netInput atomic.Int64 // bytes read from clients (INFO total_net_input_bytes)
	nextID   atomic.Uint64
	requests chan request // batches of commands from network goroutines
	events   chan func()  // work other goroutines hand to the loop
	poller   *poller      // the loop reads clients itself when set (poller_linux.go)
	// closedClients are polled clients the loop closed this turn, to be
	// unlinked at its end.
	closedClients []*Client
	limits        guardLimits
	listeners     []*boundAddr // what Stop closes; changed by rebind, on the loop
	stopAsked     bool         // Shutdown has handed listeners to Stop: no more rebinds
	stopping      chan struct{}
	stopped       chan struct{}
	stopOnce      sync.Once
	exitCode      int

	Stats          Stats
	startTime      time.Time
	nowMS          int64 // cached command time, so one command sees one "now"
	loading        atomic.Bool
	noTouch        bool
	current        *Client   // the client whose command is running
	pendingWrites  []*Client // clients with output to send this turn
	clock          loopClock // command timing (clock.go)
	startNS        int64     // when the running command started, on clock
	heldForLog     []*Client // clients whose replies wait for the log to be written (flushWrites)
	ctxStack       []*Ctx    // reusable handler contexts (EXEC nests)
	ctxDepth       int
	busy           *busyScript          // a script past busy-reply-threshold (script.go)
	oomAtCommand   bool                 // over maxmemory when this command started (script.go)
	inScript       int                  // a script's redis.call is running (script.go)
	scriptCmd      *Ctx                 // the EVAL or FCALL whose script runs it
	scriptStats    func() ScriptStats   // INFO memory's scripting lines (script.go)
	blockedOn      map[dbKey][]*KeyWait // clients blocked on keys, oldest first (keyblock.go)
	readyKeys      []dbKey              // keys signalled ready during the current command
	drained        int                  // commands taken by the current drain (loop.go)
	cronTicks      uint64               // cron calls so far (clientsCron spreads clients over them)
	noActiveExpire bool
	lazySeen       bool     // a Lazy value was stored: commands check for damaged keys (db.go)
	Dirty          int64    // changes since the last save (rdb_changes_since_last_save)
	propOps        []Op     // what the running top-level command propagates (dispatch.go)
	propArgs       [][]byte // argument lists handed out by Ctx.PropagateArgs, reused after flushPropagation
	LastSave       int64    // unix seconds
	watchers       map[watchedKeyID]map[*Client]struct{}
	channels       map[string]map[*Client]struct{}
	patterns       map[string]map[*Client]struct{}
	monitors       map[*Client]struct{}
	slowlog        []SlowlogEntry
	slowlogID      int64
	latency        map[string]*latencyEvent // LATENCY's events (latency.go)
	cmdStats       map[string]*CmdStat
	errorStats     map[string]int64
	evict          evictor // maxmemory eviction (evict.go)

	// trk is the client-side caching state, nil until the first CLIENT
	// TRACKING on (tracking.go).
	trk *trackingTables

	logger  *log.Logger
	logMu   sync.Mutex
	logFile io.Closer

	// hooks are the subsystems plugged into the loop, in registration
	// order (hooks.go); started closes the list (Start).
	hooks   []Hooks
	started bool
}

// request is a pipeline of commands one client sent.
type request struct {
	c        *Client
	batch    [][][]byte
	protoErr protocolError // after the batch: reply it and close
	hangup   bool          // the connection ended: unlink the client
}

type watchedKeyID struct {
	db  int
	key string
}

// Stats are the counters INFO stats reports.
type Stats struct {
	ConnectionsReceived int64
	CommandsProcessed   int64
	RejectedConns       int64
	ExpiredKeys         int64
	KeyspaceHits        int64
	KeyspaceMisses      int64
	TotalNetOutput      int64
	TotalErrorReplies   int64
	PubsubMessages      int64
}

// CmdStat is one line of INFO commandstats.
type CmdStat struct {
	Calls, USec, Rejected, Failed int64
	Hist                          [histBuckets]int64 // durations per bucket, with latency-tracking (latency.go)
}

// New makes a server from a configuration; Start listens.
func New(cfg *Config) *Server {
	raiseHeapFloor()
	s := &Server{
		Config:     cfg,
		clients:    map[uint64]*Client{},
		requests:   make(chan request, 1024),
		events:     make(chan func(), 1024),
		stopping:   make(chan struct{}),
		stopped:    make(chan struct{}),
		poller:     newPoller(),
		startTime:  time.Now(),
		watchers:   map[watchedKeyID]map[*Client]struct{}{},
		channels:   map[string]map[*Client]struct{}{},
		patterns:   map[string]map[*Client]struct{}{},
		monitors:   map[*Client]struct{}{},
		cmdStats:   map[string]*CmdStat{},
		errorStats: map[string]int64{},
		logger:     log.New(os.Stdout, "", 0),
	}
	s.LastSave = time.Now().Unix()
	s.clock.anchor()
	for i := 0; i < cfg.Databases; i++ {
		s.DBs = append(s.DBs, newDB(i, s))
	}
	s.applyLimits()
	if cfg.Get("logfile") != "" {
		f, err := os.OpenFile(cfg.Get("logfile"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err == nil {
			s.logger = log.New(f, "", 0)
			s.logFile = f
		}
	}
	return s
}

func (s *Server) applyLimits() {
	s.limits.maxBulk.Store(s.Config.ProtoMaxBulkLen)
	s.limits.queryBuf.Store(s.Config.ClientQueryBufferLimit)
}

// Now is the current time in unix ms, fixed for the duration of a command.
func (s *Server) Now() int64 {
	if s.nowMS != 0 {
		return s.nowMS
	}
	return time.Now().UnixMilli()
}

// StartTime is when the server started.
func (s *Server) StartTime() time.Time { return s.startTime }

var logLevels = map[string]int{"debug": 0, "verbose": 1, "notice": 2, "warning": 3, "nothing": 4}

// logf writes a Redis-style log line if level passes loglevel.
func (s *Server) logf(level, format string, args ...any) {
	if logLevels[level] < logLevels[s.Config.Get("loglevel")] {
		return
	}
	mark := map[string]string{"debug": ".", "verbose": "-", "notice": "*", "warning": "#"}[level]
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.logger.Printf("%d:M %s %s %s", os.Getpid(), time.Now().Format("02 Jan 2006 15:04:05.000"), mark, fmt.Sprintf(format, args...))
}

// Logf is logf for other packages.
func (s *Server) Logf(level, format string, args ...any) { s.logf(level, format, args...) }

// Start binds every address in `bind` on `port` and serves until Stop.
func (s *Server) Start() error {
	s.started = true // the hook list is the loop's from now on
	if err := s.rebind(); err != nil {
		return err
	}
	if len(s.listeners) == 0 {
		return errors.New("Configured to not listen anywhere, exiting.")
	}
	var addrs []string
	for _, b := range s.listeners {
		addrs = append(addrs, b.addr)
	}
	s.logf("notice", "Ready to accept connections tcp on %s", strings.Join(addrs, ", "))
	go s.loop()
	return nil
}

// boundAddr is one listening socket, served by its own redcon server.
type boundAddr struct {
	network, addr string // as net.Listen took them
	sock          *listenSocket
}

// Close stops accepting here and ends the connections accepted here (Stop).
func (b *boundAddr) Close() error { return b.sock.Listener.Close() }

// listenSocket lets rebind retire a socket without dropping its clients:
// redcon closes every connection a server accepted when Serve returns, so a
// retired socket's Accept waits for the server to stop instead of failing.
type listenSocket struct {
	net.Listener
	retired  atomic.Bool
	stopping <-chan struct{}
}

func (l *listenSocket) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil && l.retired.Load() {
		<-l.stopping
	}
	return c, err
}

func (l *listenSocket) retire() {
	l.retired.Store(true)
	l.Listener.Close()
}

// listenAddr is one address bind and port ask for.
type listenAddr struct {
	network, addr string // tcp4, or tcp6 for an address with a colon; host:port
	optional      bool   // bind's "-" prefix: skipped when not available here
}

func (a listenAddr) key() string { return a.network + " " + a.addr }

// listenAddrs reads bind as Redis does: * and ::* are every IPv4 and IPv6
// address; port 0 or an empty bind listen on nothing.
func listenAddrs(bind []string, port int) []listenAddr {
	if port == 0 {
		return nil
	}
	var out []listenAddr
	for _, b := range bind {
		a := listenAddr{network: "tcp4", optional: strings.HasPrefix(b, "-")}
		host := strings.TrimPrefix(b, "-")
		if strings.Contains(host, ":") {
			a.network = "tcp6"
		}
		if host == "*" || host == "::*" {
			host = ""
		}
		a.addr = net.JoinHostPort(host, strconv.Itoa(port))
		out = append(out, a)
	}
	return out
}

// rebind makes the listening sockets match bind and port (Redis's
// changeBindAddr and changeListenPort). An address already bound keeps its
// socket; new ones are opened, and the sockets no longer wanted are retired:
// they stop accepting, while the clients they accepted stay connected. An
// old socket in the way of a new one on its port (0.0.0.0 against
// 127.0.0.1) is retired first, as Redis closes before it binds. On error
// the sockets opened here are closed and the old ones not yet retired stay;
// CONFIG SET then rebinds the old configuration. Loop goroutine.
func (s *Server) rebind() error {
	if s.stopAsked {
		return errors.New("the server is shutting down")
	}
	addrs := listenAddrs(s.Config.Bind, s.Config.Port)
	wanted := map[string]bool{}
	for _, a := range addrs {
		wanted[a.key()] = true
	}
	old := map[string]*boundAddr{} // not yet kept or retired
	for _, b := range s.listeners {
		old[b.network+" "+b.addr] = b
	}
	retireOn := func(port string) {
		for k, b := range old {
			if _, p, _ := net.SplitHostPort(b.addr); p == port && !wanted[k] {
				b.sock.retire()
				delete(old, k)
			}
		}
	}

	var next []*boundAddr
	for _, a := range addrs {
		if b := old[a.key()]; b != nil {
			next = append(next, b)
			delete(old, a.key())
			continue
		}
		ln, err := net.Listen(a.network, a.addr)
		if errors.Is(err, syscall.EADDRINUSE) {
			_, port, _ := net.SplitHostPort(a.addr)
			retireOn(port)
			ln, err = net.Listen(a.network, a.addr)
		}
		if err != nil {
			s.logf("warning", "Warning: Could not create server TCP listening socket %s: %v", a.addr, err)
			if unavailable(err, a.optional) {
				continue
			}
			for _, b := range next {
				if !slices.Contains(s.listeners, b) {
					b.sock.Listener.Close()
				}
			}
			s.listeners = slices.DeleteFunc(s.listeners, func(b *boundAddr) bool { return b.sock.retired.Load() })
			return fmt.Errorf("Could not create server TCP listening socket %s: %v", a.addr, err)
		}
		b := &boundAddr{network: a.network, addr: a.addr, sock: &listenSocket{Listener: ln, stopping: s.stopping}}
		rs := redcon.NewServerNetwork(a.network, a.addr, s.handle, s.accept, s.closed)
		go rs.Serve(attachListener{b.sock})
		next = append(next, b)
	}
	for _, b := range old {
		b.sock.retire()
	}
	s.listeners = next
	return nil
}

// unavailable tells a listen error that skips the address rather than
// failing: no such address here (for an optional one) or no IPv6 at all.
func unavailable(err error, optional bool) bool {
	return optional && errors.Is(err, syscall.EADDRNOTAVAIL) ||
		errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EPROTONOSUPPORT)
}

// accept runs on redcon's accept goroutine: limits that need no loop state.
func (s *Server) accept(conn redcon.Conn) bool {
	nc := conn.NetConn()
	if a, ok := nc.(*attachConn); ok {
		nc = a.Conn // the client's own socket; redcon keeps the wrapper
	}
	if s.nclients.Load() >= int64(s.Config.MaxClients) {
		nc.Write([]byte("-ERR max number of clients reached\r\n"))
		atomic.AddInt64(&s.Stats.RejectedConns, 1)
		return false
	}
	if s.Config.ProtectedMode && s.Config.RequirePass == "" && !isLoopback(nc.RemoteAddr()) {
		nc.Write([]byte("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"))
		atomic.AddInt64(&s.Stats.RejectedConns, 1)
		return false
	}
	s.nclients.Add(1)
	c := &Client{
		ID:      s.nextID.Add(1),
		srv:     s,
		conn:    conn,
		netConn: nc,
		Addr:    nc.RemoteAddr().String(),
		LAddr:   nc.LocalAddr().String(),
		created: time.Now(),
		fd:      -1,
		kick:    make(chan struct{}, 1),
		gone:    make(chan struct{}),

		batchSlots: make(chan struct{}, maxBatchesInFlight),
	}
	c.R.resp = 2
	c.DB = s.DBs[0]
	c.authed.Store(s.Config.RequirePass == "")
	if tc, ok := nc.(*net.TCPConn); ok {
		c.raw, _ = tc.SyscallConn()
	}
	conn.SetContext(c)
	s.post(func() { s.linkClient(c) })
	return true
}

func isLoopback(a net.Addr) bool {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.IsLoopback()
	}
	return true
}

// handle runs on the connection's goroutine for the one command redcon
// parses: the injected attach command. It detaches the connection from
// redcon and serves it with our reader until the client goes away; redcon
// then calls closed.
func (s *Server) handle(conn redcon.Conn, cmd redcon.Command) {
	c, _ := conn.Context().(*Client)
	if c == nil || len(cmd.Args) != 1 || string(cmd.Args[0]) != attachCommand {
		conn.Close()
		return
	}
	conn.Detach()
	if s.poller != nil && takeSocket(c) {
		// The loop does this socket's I/O from now on (poller_linux.go);
		// this goroutine ends here, and redcon's closed callback is ignored.
		c.polled = true
		newRespReader(c.netConn, &s.limits, c).counter = &s.netInput
		s.post(func() {
			s.linkClient(c)
			if !s.poller.add(c) {
				s.dropClient(c)
			}
		})
		return
	}
	s.serveConn(c)
}

// serveConn reads the client's pipelines and hands each to the loop. It
// does not wait for replies (the loop writes them), except to apply
// backpressure to a client that does not read them.
func (s *Server) serveConn(c *Client) {
	rd := newRespReader(c.netConn, &s.limits, c)
	rd.counter = &s.netInput
	for {
		batch, err := rd.readBatch()
		if len(batch) > 0 && !c.takeBatchSlot() {
			c.netConn.Close() // closed by the loop while we waited
			return
		}
		var pe protocolError
		switch {
		case err == nil:
			s.submit(request{c: c, batch: batch})
		case errors.As(err, &pe):
			// Redis runs what came before, replies the error, then closes.
			s.submit(request{c: c, batch: batch, protoErr: pe})
			select {
			case <-c.gone:
			case <-time.After(5 * time.Second):
			}
			c.netConn.Close()
			return
		default:
			if err == errQueryBufExceeded {
				s.logf("warning", "Closing client that reached max query buffer length: id=%d addr=%s", c.ID, c.Addr)
			}
			if len(batch) > 0 {
				s.submit(request{c: c, batch: batch})
			}
			c.netConn.Close()
			return
		}
		// Backpressure: a client that sends faster than it reads its
		// replies waits here until its unsent output drains.
		for c.pendingOut.Load() > maxUnsentOutput {
			select {
			case <-c.gone: // closed by the loop, maybe over an output limit
				c.netConn.Close()
				return
			case <-time.After(time.Millisecond):
			}
		}
	}
}

// maxUnsentOutput is how much unsent reply data a client may have before
// the server stops reading its commands.
const maxUnsentOutput = 64 << 20

// submit hands a request to the loop.
func (s *Server) submit(r request) {
	select {
	case s.requests <- r: // the common case, without the two-channel select
	default:
		select {
		case s.requests <- r:
		case <-s.stopping:
			return
		}
	}
	if s.poller != nil {
		s.poller.wake()
	}
}

// post hands fn to the loop (from any goroutine but the loop's).
func (s *Server) post(fn func()) {
	select {
	case s.events <- fn:
	case <-s.stopping:
		return
	}
	if s.poller != nil {
		s.poller.wake()
	}
}

// closed runs on the connection's goroutine when it ends.
func (s *Server) closed(conn redcon.Conn, err error) {
	c, _ := conn.Context().(*Client)
	if c == nil || c.polled {
		return // a polled client ends in dropClient
	}
	s.nclients.Add(-1)
	// Through the requests channel, so the hang-up is handled after every
	// batch the client sent before it.
	s.submit(request{c: c, hangup: true})
}

// ConfigChanged applies directives that need more than a new value (after
// CONFIG SET).
func (s *Server) ConfigChanged() {
	s.applyLimits()
	s.maxmemoryChanged()
}

// SetLoading sets the LOADING state (INFO loading; commands without the
// loading flag are refused) while persistence loads a snapshot.
func (s *Server) SetLoading(on bool) { s.loading.Store(on) }

// Loading reports the LOADING state: while a log is replayed, a TTL that
// has passed since it was logged deletes nothing (Redis's
// checkAlreadyExpired), since the records after it still need the key;
// expiry comes once loading ends.
func (s *Server) Loading() bool { return s.loading.Load() }

// SetActiveExpire turns the cron's active expiry on or off (DEBUG
// SET-ACTIVE-EXPIRE).
func (s *Server) SetActiveExpire(on bool) { s.noActiveExpire = !on }

// Shutdown stops the server after an optional save: save forces one,
// nosave skips it, neither saves when save points are configured. A save
// that fails stops the exit (the error is returned, the server goes on),
// unless force (SHUTDOWN FORCE, as Redis 7.0): then the hooks run again
// as for NOSAVE and the server exits.
func (s *Server) Shutdown(save, nosave, force bool) error {
	doSave := save || (!nosave && len(s.Config.SavePoints()) > 0)
	if err := s.shutdownHooks(doSave); err != nil {
		if !force {
			s.logf("warning", "Error trying to save the DB, can't exit.")
			return err
		}
		s.logf("warning", "Error trying to save the DB. Exit anyway.")
		if err := s.shutdownHooks(false); err != nil {
			s.logf("warning", "Error at shutdown: %v. Exit anyway.", err)
		}
	}
	s.logf("warning", "Redis is now ready to exit, bye bye...")
	for _, c := range s.clients {
		c.closeAfterReply = true
	}
	s.stopAsked = true // Stop reads s.listeners on its own goroutine
	go s.Stop(0)
	return nil
}

// ListenAddr is one address a front end listens on: Network "tcp4" or
// "tcp6", Addr host:port; Optional ("-" in bind) may fail to bind.
type ListenAddr struct {
	Network, Addr string
	Optional      bool
}

// ListenAddrs returns bind's addresses on port (none for port 0), as the
// RESP listener binds them: for front ends on other ports (http-port).
func ListenAddrs(bind []string, port int) []ListenAddr {
	var out []ListenAddr
	for _, a := range listenAddrs(bind, port) {
		out = append(out, ListenAddr{Network: a.network, Addr: a.addr, Optional: a.optional})
	}
	return out
}
