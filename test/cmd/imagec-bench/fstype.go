package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// The filesystem the run directories are on decides much of an unpack's
// time: on ext4, creating files right after deleting many is about twice as
// slow for every tool (its inode allocator skips recently freed inodes), and
// tmpfs has no writeback at all. The report names it for that reason.

// fsMagic names the statfs magic numbers of the filesystems a bench is
// likely to run on; ext2, ext3 and ext4 share theirs.
var fsMagic = map[int64]string{
	0x01021994: "tmpfs",
	0xef53:     "ext2/3/4",
	0x794c7630: "overlay",
	0x58465342: "xfs",
	0x9123683e: "btrfs",
	0x2fc12fc1: "zfs",
	0x6969:     "nfs",
	0x65735546: "fuse",
	0xf2f52010: "f2fs",
}

// fsType names the filesystem path is on: the type of the mount that holds
// it, from /proc/self/mountinfo (which tells ext4 from ext2), else from the
// statfs magic number.
func fsType(path string) string {
	if abs, err := filepath.EvalSymlinks(path); err == nil {
		path = abs
	}
	if t := mountType(path); t != "" {
		return t
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return "unknown"
	}
	if name, ok := fsMagic[int64(st.Type)]; ok {
		return name
	}
	return fmt.Sprintf("magic %#x", st.Type)
}

// mountType is the filesystem type of the deepest mount point above path.
func mountType(path string) string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	best, typ := "", ""
	for _, line := range strings.Split(string(b), "\n") {
		// id parent major:minor root mountpoint options... - type source super
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 1 {
			continue
		}
		mp := unescapeMount(f[4])
		if under(path, mp) && len(mp) >= len(best) {
			best, typ = mp, g[0]
		}
	}
	return typ
}

func under(path, dir string) bool {
	return dir == "/" || path == dir || strings.HasPrefix(path, dir+"/")
}

// unescapeMount undoes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
