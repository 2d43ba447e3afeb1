package layers

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/imagec/imagec/errdefs"
)

// The record of an unpacked layer is the file <chain id>/record beside
// diff/: every path of diff/ in the order a walk visits it (lexical), with
// its type, mode, owner, mtime, size and content sha256 (regular files),
// link target (symlinks), device numbers, the hardlinks between its files,
// and the extended attributes the layer's overlay form depends on (opaque
// directories among them). A header binds it to the layer's chain ID and
// diffID and a trailer holds the sha256 of everything before it:
//
//	imagec layer record v1
//	chain sha256:…
//	diffid sha256:…
//	"." d 755 0:0 1717200000.000000000
//	"etc" d 755 0:0 1717200000.000000000
//	"etc/gone" w 0 0:0 1717200000.000000000
//	"etc/hard" f 644 0:0 1717200000.000000000 4 <sha256 hex>
//	"etc/keep" h "etc/hard"
//	"etc/link" l 777 0:0 1717200000.000000000 "keep"
//	"var" d 755 0:0 1717200000.000000000
//	"var/cache" d 755 0:0 1717200000.000000000 x:"trusted.overlay.opaque"=79
//	end sha256:…
//
// What it is trusted for. imagec writes the record when it unpacks the
// layer from its blob: the content digests are those of the bytes the
// extractor wrote from a stream that hashed to the diffID, the rest is read
// from the tree the extractor had just made in a private temporary
// directory, and the directory is named only once both are on disk. Later,
// every use of the layer (unpack composing from it, fsck) compares the tree
// with the record, so any change made to diff/ since (by an editor, a
// package manager run in it, a runtime that mounted it writable, a botched
// copy, a failing disk) is caught, and so is a record damaged, truncated or
// taken from another layer. It is not proof against someone who means it
// and can write the store: they can rewrite diff/ and the record together,
// as they can rewrite index.json to name other content. Binding the tree to
// the diffID itself would mean decompressing and hashing the blob on every
// use, which is the work the layer area exists to save. So the layer area
// is as trustworthy as whoever can write the store, like index.json; the
// README says so where users look.
const (
	recordName    = "record"
	recordMagic   = "imagec layer record v1"
	maxRecordLine = 4 << 20 // a path, a link target and xattrs, hex-encoded
)

// recordedXattr reports whether an extended attribute is part of a layer's
// record. LSM labels (security.selinux and the like) are the host's: the
// extractor never takes them from a layer, and a relabel must not make a
// layer corrupt. Everything else is the layer's, including the overlay
// attributes that make its directory an overlay lower directory.
func recordedXattr(name string) bool {
	return !strings.HasPrefix(name, "security.") || name == "security.capability"
}

// entryLine describes one entry of a layer directory as its record line.
// sum is the sha256 of a regular file's content, nil for other types.
func entryLine(rel string, fi fs.FileInfo, st *syscall.Stat_t, link string, xattrs map[string]string, sum []byte) string {
	// strconv rather than fmt: this runs once per file on every use.
	b := strconv.AppendQuote(make([]byte, 0, 160), rel)
	b = append(b, ' ', kindOf(st), ' ')
	b = strconv.AppendUint(b, uint64(st.Mode&0o7777), 8)
	b = append(b, ' ')
	b = appendPair(b, uint64(st.Uid), uint64(st.Gid))
	b = append(b, ' ')
	b = strconv.AppendInt(b, st.Mtim.Sec, 10)
	b = append(b, '.')
	ns := strconv.AppendInt(make([]byte, 0, 9), st.Mtim.Nsec, 10)
	b = append(b, "000000000"[len(ns):]...)
	b = append(b, ns...)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		b = append(b, ' ')
		b = strconv.AppendInt(b, fi.Size(), 10)
		b = append(b, ' ')
		b = hex.AppendEncode(b, sum)
	case unix.S_IFLNK:
		b = append(b, ' ')
		b = strconv.AppendQuote(b, link)
	case unix.S_IFCHR, unix.S_IFBLK:
		if st.Rdev != 0 {
			b = append(b, ' ')
			b = appendPair(b, uint64(unix.Major(st.Rdev)), uint64(unix.Minor(st.Rdev)))
		}
	}
	for _, k := range sortedKeys(xattrs) {
		if recordedXattr(k) {
			b = append(b, " x:"...)
			b = strconv.AppendQuote(b, k)
			b = append(b, '=')
			b = hex.AppendEncode(b, []byte(xattrs[k]))
		}
	}
	return string(b)
}

// appendPair appends "a:b".
func appendPair(b []byte, a, c uint64) []byte {
	b = strconv.AppendUint(b, a, 10)
	b = append(b, ':')
	return strconv.AppendUint(b, c, 10)
}

// hardlinkLine describes rel as another name of the file first, which the
// record describes in full.
func hardlinkLine(rel, first string) string {
	return strconv.Quote(rel) + " h " + strconv.Quote(first)
}

func kindOf(st *syscall.Stat_t) byte {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return 'd'
	case unix.S_IFREG:
		return 'f'
	case unix.S_IFLNK:
		return 'l'
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			return 'w' // an overlayfs whiteout
		}
		return 'c'
	case unix.S_IFBLK:
		return 'b'
	case unix.S_IFIFO:
		return 'p'
	}
	return '?'
}

// recordWriter writes a record, hashing it for its trailer.
type recordWriter struct {
	f *os.File
	w *bufio.Writer
	h hash.Hash
}

// createRecord starts the record at path, which must not exist.
func createRecord(path string, chain, diffID digest.Digest) (*recordWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o444)
	if err != nil {
		return nil, fmt.Errorf("layer %s: record: %w", chain, err)
	}
	rw := &recordWriter{f: f, h: sha256.New()}
	rw.w = bufio.NewWriterSize(io.MultiWriter(f, rw.h), 64<<10)
	for _, l := range []string{recordMagic, "chain " + chain.String(), "diffid " + diffID.String()} {
		if err := rw.add(l); err != nil {
			f.Close()
			return nil, err
		}
	}
	return rw, nil
}

func (rw *recordWriter) add(line string) error {
	_, err := rw.w.WriteString(line + "\n")
	return err
}

// commit ends the record with its digest and closes it. The caller syncs
// it to disk with the layer.
func (rw *recordWriter) commit() error {
	err := rw.w.Flush()
	if err == nil {
		_, err = fmt.Fprintf(rw.f, "end %s\n", digest.NewDigest(digest.SHA256, rw.h))
	}
	if cerr := rw.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// recordReader reads a record line by line while a walk of the layer
// directory compares the tree with it.
type recordReader struct {
	f     *os.File
	sc    *bufio.Scanner
	h     hash.Hash
	chain digest.Digest
}

// errNoRecord marks a layer directory without a record: made by an imagec
// that wrote none, or damaged. Its content cannot be verified.
var errNoRecord = fmt.Errorf("no record of what it should contain, so its content cannot be verified: %w", errdefs.ErrNotFound)

// openRecord opens the record of the layer with chain ID chain and checks
// its header. diffID, when not empty, must be the one recorded too.
func openRecord(path string, chain, diffID digest.Digest) (*recordReader, error) {
	// O_NOFOLLOW: a symlink in place of the record is no record.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ELOOP) {
		return nil, errNoRecord
	}
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	r := &recordReader{f: f, h: sha256.New(), chain: chain, sc: bufio.NewScanner(f)}
	r.sc.Buffer(make([]byte, 64<<10), maxRecordLine)
	want := []string{recordMagic, "chain " + chain.String(), "diffid " + diffID.String()}
	for i, w := range want {
		got, err := r.line()
		if err == nil && got != w && !(i == 2 && diffID == "" && strings.HasPrefix(got, "diffid ")) {
			err = fmt.Errorf("record header line %d is %q, want %q: %w", i+1, short(got), w, errdefs.ErrDigestMismatch)
		}
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	return r, nil
}

// line returns the next line, hashed unless it is the trailer.
func (r *recordReader) line() (string, error) {
	if !r.sc.Scan() {
		if err := r.sc.Err(); err != nil {
			return "", fmt.Errorf("read record: %w: %w", err, errdefs.ErrDigestMismatch)
		}
		return "", fmt.Errorf("record is truncated: %w", errdefs.ErrDigestMismatch)
	}
	l := r.sc.Bytes()
	if !bytes.HasPrefix(l, []byte("end ")) {
		r.h.Write(l)
		r.h.Write([]byte{'\n'})
	}
	return string(l), nil
}

// expect compares the next entry of the record with got, the line the
// tree's next entry makes.
func (r *recordReader) expect(got string) error {
	want, err := r.line()
	if err != nil {
		return err
	}
	if want == got {
		return nil
	}
	gotPath, wantPath := linePath(got), linePath(want)
	switch {
	case strings.HasPrefix(want, "end "):
		return fmt.Errorf("%s is not in the record (added since the layer was unpacked): %w", gotPath, errdefs.ErrDigestMismatch)
	case gotPath != wantPath:
		return fmt.Errorf("the record lists %s next but the directory has %s (a path added or removed): %w", wantPath, gotPath, errdefs.ErrDigestMismatch)
	}
	return fmt.Errorf("%s differs from the record: found %q, recorded %q: %w", gotPath,
		short(lineFields(got)), short(lineFields(want)), errdefs.ErrDigestMismatch)
}

// lineFields returns what a record line says about its path.
func lineFields(line string) string {
	if q, err := strconv.QuotedPrefix(line); err == nil {
		return strings.TrimPrefix(line[len(q):], " ")
	}
	return line
}

// end checks that the tree had every entry of the record and that the
// record is intact.
func (r *recordReader) end() error {
	l, err := r.line()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(l, "end ") {
		return fmt.Errorf("%s is in the record but not in the directory (removed since the layer was unpacked): %w", linePath(l), errdefs.ErrDigestMismatch)
	}
	if got := digest.NewDigest(digest.SHA256, r.h).String(); l != "end "+got {
		return fmt.Errorf("record is damaged: it hashes to %s, its trailer says %q: %w", got, short(l), errdefs.ErrDigestMismatch)
	}
	if r.sc.Scan() || r.sc.Err() != nil {
		return fmt.Errorf("record has data after its trailer: %w", errdefs.ErrDigestMismatch)
	}
	return nil
}

func (r *recordReader) close() { r.f.Close() }

// linePath returns the quoted path a record line starts with.
func linePath(line string) string {
	if q, err := strconv.QuotedPrefix(line); err == nil {
		return short(q)
	}
	return strconv.Quote(short(line))
}

// short cuts a line or name for an error message: paths, link targets and
// xattr values can be kilobytes long.
func short(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + fmt.Sprintf("...(%d bytes)", len(s))
}
