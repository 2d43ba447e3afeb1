package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// serveBlob answers a blob the repository's names reach: from the store
// when it holds it (Range and conditional requests as http.ServeContent
// does them), else, for a pull-through, as it arrives from the upstream.
func (h *Handler) serveBlob(w http.ResponseWriter, r *http.Request, rp *repo, d digest.Digest) {
	ctx := r.Context()
	// Reached is asked of the names (a miss walks them again: a manifest
	// may have been stored since); present of the store, every time, so a
	// listed blob still arriving costs no walk per request.
	n, ok, err := h.reach.lookup(ctx, h.src, rp, d, func(reached) bool { return true })
	if err != nil {
		writeError(w, r, err, "BLOB_UNKNOWN")
		return
	}
	if !ok || !h.src.Has(ctx, n.desc) {
		if !ok || h.up == nil {
			// Not reached at all, or not here: a pull-through fetches
			// only blobs a stored manifest lists, whose size it knows
			// before the first byte.
			writeError(w, r, errNotFound("BLOB_UNKNOWN", "blob not in this store"), "BLOB_UNKNOWN")
			return
		}
		h.serveArriving(w, r, rp, n.desc)
		return
	}
	rd, err := h.src.Open(ctx, d)
	if err != nil {
		writeError(w, r, err, "BLOB_UNKNOWN")
		return
	}
	defer rd.Close()
	blobHeaders(w, d)
	http.ServeContent(w, r, "", time.Time{}, rd)
}

func blobHeaders(w http.ResponseWriter, d digest.Digest) {
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("ETag", `"`+d.String()+`"`)
	hd.Set("Accept-Ranges", "bytes")
}

// chunkSize is how much of an arriving blob is sent at a time.
const chunkSize = 256 << 10

var chunks = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// serveArriving streams a blob the upstream is fetching into the store.
// The status line waits for the first bytes, so a fetch that fails at
// once is answered with an error; one that fails later (the blob did not
// verify, the upstream went away) cuts the response, which a client sees
// as a body shorter than its Content-Length.
func (h *Handler) serveArriving(w http.ResponseWriter, r *http.Request, rp *repo, desc ocispec.Descriptor) {
	ctx := r.Context()
	start, end, partial, err := parseRange(r.Header.Get("Range"), desc.Size)
	if r.Header.Get("If-Range") != "" {
		start, end, partial, err = 0, desc.Size, false, nil // no validator to compare yet
	}
	if err != nil {
		w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", desc.Size))
		writeError(w, r, &apiError{status: http.StatusRequestedRangeNotSatisfiable, code: "BLOB_UNKNOWN", message: "range not satisfiable", cause: err}, "")
		return
	}
	if r.Method == http.MethodHead {
		// The size is the listing manifest's; the content will be checked
		// against its digest when fetched.
		writeBlobHead(w, desc, start, end, partial)
		return
	}
	ref, err := rp.digestRef(desc.Digest)
	if err != nil {
		writeError(w, r, err, "BLOB_UNKNOWN")
		return
	}
	a, err := h.up.Blob(ctx, ref, desc)
	if err != nil {
		writeError(w, r, err, "BLOB_UNKNOWN")
		return
	}
	defer a.Close()
	bufp := chunks.Get().(*[]byte)
	defer chunks.Put(bufp)
	buf := *bufp
	pos := start
	rc := http.NewResponseController(w)
	for started := false; pos < end || !started; {
		n, err := a.ReadAt(ctx, buf[:min(int64(len(buf)), max(end-pos, 0))], pos)
		if errors.Is(err, io.EOF) && pos+int64(n) == end {
			err = nil
		}
		if err != nil && !started {
			writeError(w, r, err, "BLOB_UNKNOWN")
			return
		}
		if !started {
			writeBlobHead(w, desc, start, end, partial)
			started = true
		}
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
			rc.Flush()
			pos += int64(n)
		}
		if err != nil {
			noteError(w, err)
			panic(http.ErrAbortHandler) // cut the response: the client must not take it for the blob
		}
		if end == start {
			break
		}
	}
}

// writeBlobHead sends the status line and headers of a blob answer.
func writeBlobHead(w http.ResponseWriter, desc ocispec.Descriptor, start, end int64, partial bool) {
	blobHeaders(w, desc.Digest)
	w.Header().Set("Content-Length", strconv.FormatInt(end-start, 10))
	if !partial {
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, end-1, desc.Size))
	w.WriteHeader(http.StatusPartialContent)
}
