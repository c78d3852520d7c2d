package mesosapi

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// maxRecord bounds one record a RecordIO reader accepts (64 MiB): a length
// prefix larger than that is a broken stream, not a record to allocate.
const maxRecord = 64 << 20

// recordWriter writes Mesos's RecordIO framing, "<length>\n<record>", and
// flushes after every record, so a scheduler sees each event as soon as it
// is written (and clients that read one record per chunk work).
type recordWriter struct {
	w io.Writer
	f http.Flusher
}

// WriteRecord writes one record in a single write and flushes it.
func (r recordWriter) WriteRecord(rec []byte) error {
	buf := make([]byte, 0, len(rec)+12)
	buf = strconv.AppendInt(buf, int64(len(rec)), 10)
	buf = append(buf, '\n')
	buf = append(buf, rec...)
	if _, err := r.w.Write(buf); err != nil {
		return err
	}
	if r.f != nil {
		r.f.Flush()
	}
	return nil
}

// RecordReader reads RecordIO records, for clients and tests.
type RecordReader struct{ r *bufio.Reader }

// NewRecordReader reads records from r.
func NewRecordReader(r io.Reader) *RecordReader { return &RecordReader{r: bufio.NewReader(r)} }

// Next returns the next record, or io.EOF at the end of the stream.
func (r *RecordReader) Next() ([]byte, error) {
	line, err := r.r.ReadString('\n')
	if err != nil {
		if err == io.EOF && line == "" {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("reading a record's length: %w", err)
	}
	n, err := strconv.ParseUint(line[:len(line)-1], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("record length %q is not a number: %w", line[:len(line)-1], err)
	}
	if n > maxRecord {
		return nil, fmt.Errorf("record length %d is over the %d bytes a record may have", n, maxRecord)
	}
	rec := make([]byte, n)
	if _, err := io.ReadFull(r.r, rec); err != nil {
		return nil, fmt.Errorf("reading a record of %d bytes: %w", n, err)
	}
	return rec, nil
}
