package fsck

import (
	"context"
	"fmt"
)

// scanIngest reports the partial downloads no writer holds. A held entry is
// a download in progress and is not looked at any further.
func (c *checker) scanIngest(ctx context.Context) error {
	entries, err := c.st.IngestEntries(ctx)
	if err != nil {
		return fmt.Errorf("fsck %s: %w", c.st.Root(), err)
	}
	for _, e := range entries {
		if e.Held {
			continue
		}
		c.add(&tracked{Problem: Problem{
			Kind:   KindStaleIngest,
			Digest: e.Digest,
			Path:   e.Rel,
			Detail: fmt.Sprintf("partial download of %d bytes that no process is writing (a later pull of the blob resumes it)", e.Size),
		}})
	}
	return nil
}
