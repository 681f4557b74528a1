package metalkit

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Pool is a persistent set of worker goroutines that kernels split their
// work across. The goroutines start once in NewPool and, between calls,
// poll for spinWait (30µs) and then park on a channel, so an idle pool
// costs nothing, back-to-back calls skip the wake-up, and a call creates
// no goroutines. The calling goroutine works too: a pool of n threads
// runs n-1 goroutines.
//
// Calls on one Pool are serialised (a mutex): concurrent callers wait their
// turn. A function running inside Parallel must not call Parallel or MatMul
// on the same pool (it would deadlock).
type Pool struct {
	threads int
	mu      sync.Mutex
	wake    []chan struct{} // one per worker goroutine, index 1..threads-1
	done    chan struct{}
	task    task // the running task, set under mu before waking workers
	closed  bool

	par      parallelTask
	mm       matmulTask
	quant    quantTask
	act      actBuf
	dotOut   [][4]float32
	tileOut  [][16]float32
	wideOut  [][64]float32
	wide8Out [][128]float32
	tile16   [][256]float32
}

// task is one parallel job; work(w) runs on worker w (0 = the caller).
type task interface{ work(w int) }

// NewPool starts a pool of threads workers (threads <= 0 means GOMAXPROCS).
func NewPool(threads int) *Pool {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	p := &Pool{
		threads:  threads,
		wake:     make([]chan struct{}, threads),
		done:     make(chan struct{}, threads),
		dotOut:   make([][4]float32, threads),
		tileOut:  make([][16]float32, threads),
		wideOut:  make([][64]float32, threads),
		wide8Out: make([][128]float32, threads),
		tile16:   make([][256]float32, threads),
	}
	for w := 1; w < threads; w++ {
		p.wake[w] = make(chan struct{}, 1)
		go p.worker(w)
	}
	return p
}

// Threads is the number of workers, the caller included.
func (p *Pool) Threads() int {
	if p == nil {
		return 1
	}
	return p.threads
}

// Close stops the worker goroutines. The pool must not be used afterwards,
// except that Close may be called again.
func (p *Pool) Close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for w := 1; w < p.threads; w++ {
		close(p.wake[w])
	}
}

// spinWait is how long a worker, or a caller waiting for its workers, polls
// before it parks. A forward pass runs a matmul every few tens of
// microseconds, and waking a parked goroutine's thread costs about as much
// (a futex round trip), so a short poll keeps both cores busy inside a step;
// bounded, it cannot starve another program of the core the way an
// unbounded spin does (llama.cpp's thread pool collapses when a core is
// shared).
const spinWait = 30 * time.Microsecond

func (p *Pool) worker(w int) {
	for {
		if !spinRecv(p.wake[w]) {
			if _, ok := <-p.wake[w]; !ok {
				return
			}
		}
		p.task.work(w)
		p.done <- struct{}{}
	}
}

// spinRecv polls c for up to spinWait and reports whether it received.
func spinRecv(c chan struct{}) bool {
	var t0 time.Time
	for i := 0; ; i++ {
		select {
		case _, ok := <-c:
			return ok
		default:
		}
		if i%64 == 63 {
			if t0.IsZero() {
				t0 = time.Now()
			} else if time.Since(t0) > spinWait {
				return false
			}
		}
	}
}

// run executes t on every worker and waits for all of them. p.mu is held.
func (p *Pool) run(t task) {
	if p.closed {
		panic("metalkit: use of closed Pool")
	}
	p.task = t
	for w := 1; w < p.threads; w++ {
		p.wake[w] <- struct{}{}
	}
	t.work(0)
	for w := 1; w < p.threads; w++ {
		if !spinRecv(p.done) {
			<-p.done
		}
	}
	p.task = nil
}

// Parallel calls fn over [0, n) split into at most Threads() contiguous
// chunks [start, end), one per worker, and returns when all are done. A nil
// pool runs fn(0, n) on the caller.
func (p *Pool) Parallel(n int, fn func(start, end int)) {
	if n <= 0 {
		return
	}
	if p == nil || p.threads == 1 || n == 1 {
		fn(0, n)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.par = parallelTask{n: n, threads: p.threads, fn: fn}
	p.run(&p.par)
	p.par.fn = nil
}

type parallelTask struct {
	n, threads int
	fn         func(start, end int)
}

func (t *parallelTask) work(w int) {
	start, end := t.n*w/t.threads, t.n*(w+1)/t.threads
	if start < end {
		t.fn(start, end)
	}
}

// chunker hands out [start, end) ranges of size chunk from [0, n) to
// whichever worker asks first, so a slow core gets less work.
type chunker struct {
	next     atomic.Int64
	n, chunk int
}

func (c *chunker) reset(n, chunk int) {
	c.n, c.chunk = n, max(1, chunk)
	c.next.Store(0)
}

func (c *chunker) grab() (start, end int, ok bool) {
	s := int(c.next.Add(int64(c.chunk))) - c.chunk
	if s >= c.n {
		return 0, 0, false
	}
	return s, min(s+c.chunk, c.n), true
}
