package infer

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"reddwarf/metalkit"
)

// KV pages on a device. A model whose forward runs through the Device ops
// (llamadevice.go) keeps its sessions' KV rows in one metalkit.KVPool the
// device owns: a State still holds reference-counted pages, in the same
// layout, but each page is a slot of the pool (page.dev) instead of host
// values. Copy-on-write works as on the host (a shared page is copied on
// the device, CopyPage, before it is written), and whatever needs the
// values on the host reads them back (ReadPage: a whole page for the
// session store's page payloads; one layer's K or V run of a page for
// the rows DUMP and the snapshot write layer by layer, so each value
// crosses once) or writes them up (WritePage: loading, RESTORE). The
// pool has a fixed number of pages, chosen at Open
// (Options.DeviceKVBytes); when they are all held, Step fails with
// ErrKVFull and changes nothing.

// ErrKVFull is returned when a device model's KV pool has no free page.
var ErrKVFull = errors.New("infer: the device's KV pool is full")

// deviceKV is a model's pool of KV pages on its device and the list of
// free slots. Pages go back to the list when their last holder lets go
// (page.unref), or, for a State dropped without Release, when the garbage
// collector finds the page unreachable.
type deviceKV struct {
	d     metalkit.Device
	pool  metalkit.KVPool
	pages int

	// run is held while the device runs ops: a step's pass and its
	// Read, and each page copy. A device is not safe for concurrent use,
	// and a State's pages are read on other goroutines than Step's
	// (BGSAVE serialises snapshot views beside the loop).
	run sync.Mutex

	mu   sync.Mutex // guards free
	free []int32
}

// devPage is a page's slot of a deviceKV; freed makes returning it happen
// once, whichever of unref and the collector comes first.
type devPage struct {
	kv    *deviceKV
	id    int32
	freed atomic.Bool
}

func newDeviceKV(d metalkit.Device, l KVLayout, pages int) (*deviceKV, error) {
	if l.Type != KVF16 {
		return nil, fmt.Errorf("kv cache type %v: a device's KV pages are f16", l.Type)
	}
	pool, err := d.NewKVPool(metalkit.KVShape{Layers: l.Layers, Heads: l.Heads, HeadDim: l.HeadDim, PageTokens: PageTokens}, pages)
	if err != nil {
		return nil, err
	}
	kv := &deviceKV{d: d, pool: pool, pages: pages}
	for i := pages - 1; i >= 0; i-- {
		kv.free = append(kv.free, int32(i))
	}
	return kv, nil
}

// newPage returns a fresh page (refs 1) holding a free slot. Where none
// is free it collects garbage once, in case dropped States still hold
// some, and waits briefly for their cleanups before failing.
func (kv *deviceKV) newPage() (*page, error) {
	for try := 0; ; try++ {
		kv.mu.Lock()
		n := len(kv.free)
		if n > 0 {
			id := kv.free[n-1]
			kv.free = kv.free[:n-1]
			kv.mu.Unlock()
			p := &page{dev: &devPage{kv: kv, id: id}}
			p.refs.Store(1)
			runtime.AddCleanup(p, (*devPage).release, p.dev)
			return p, nil
		}
		kv.mu.Unlock()
		switch {
		case try == 0:
			runtime.GC()
		case try < 20:
			time.Sleep(time.Millisecond)
		default:
			return nil, fmt.Errorf("%w (%d pages of %d tokens)", ErrKVFull, kv.pages, PageTokens)
		}
	}
}

// release returns the slot to the free list (once).
func (dp *devPage) release() {
	if dp.freed.Swap(true) {
		return
	}
	dp.kv.mu.Lock()
	dp.kv.free = append(dp.kv.free, dp.id)
	dp.kv.mu.Unlock()
}

// Free is how many pages of the pool are not held.
func (kv *deviceKV) Free() int {
	kv.mu.Lock()
	defer kv.mu.Unlock()
	return len(kv.free)
}

// copyPage returns a private copy of device page p, copied on the device.
func (kv *deviceKV) copyPage(p *page) (*page, error) {
	q, err := kv.newPage()
	if err != nil {
		return nil, err
	}
	kv.run.Lock()
	defer kv.run.Unlock()
	kv.d.CopyPage(kv.pool, int(q.dev.id), int(p.dev.id))
	return q, nil
}

// upload returns a device page holding host page p's values.
func (kv *deviceKV) upload(p *page) (*page, error) {
	q, err := kv.newPage()
	if err != nil {
		return nil, err
	}
	kv.run.Lock()
	defer kv.run.Unlock()
	kv.d.WritePage(kv.pool, int(q.dev.id), p.f16)
	return q, nil
}

// readRun copies values [off, off+len(dst)) of device page p into dst.
func (kv *deviceKV) readRun(dst []uint16, p *page, off int) error {
	kv.run.Lock()
	defer kv.run.Unlock()
	return kv.d.ReadPage(dst, kv.pool, int(p.dev.id), off)
}

// download returns a host page holding device page p's values.
func (kv *deviceKV) download(p *page, l KVLayout) (*page, error) {
	h := newPage(l)
	kv.run.Lock()
	defer kv.run.Unlock()
	if err := kv.d.ReadPage(h.f16, kv.pool, int(p.dev.id), 0); err != nil {
		return nil, err
	}
	return h, nil
}
