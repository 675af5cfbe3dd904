package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/madbase/madbase/shared/config"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// s3PartSize is the multipart part size of streamed uploads: the most a Put
// of unknown length buffers at once.
const s3PartSize = 8 << 20

// S3 keeps bytes in one S3 bucket through minio-go. Put streams a multipart
// upload, which S3 only makes visible on completion; minio-go aborts it on
// error, so a cut upload leaves no object.
type S3 struct {
	client *minio.Client
	bucket string
}

// NewS3 connects to the configured endpoint (host:port or URL).
func NewS3(cfg config.Storage) (*S3, error) {
	endpoint, secure := cfg.S3Endpoint, cfg.S3UseSSL
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("storage: S3_ENDPOINT: %w", err)
		}
		endpoint, secure = u.Host, u.Scheme == "https"
	}
	c, err := minio.New(endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.S3AccessKey, cfg.S3SecretKey, ""),
		Secure:       secure,
		Region:       cfg.S3Region,
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		return nil, fmt.Errorf("storage: s3 client: %w", err)
	}
	return &S3{client: c, bucket: cfg.S3Bucket}, nil
}

// EnsureBucket creates the S3 bucket if it is missing.
func (s *S3) EnsureBucket(ctx context.Context, region string) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	return s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
}

// Put implements Backend.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, contentType string) (int64, error) {
	// minio-go takes io.ErrUnexpectedEOF from its reader as the end of the
	// stream; a body cut short must fail the upload instead, so read errors
	// are hidden behind errReader and returned as they were.
	er := &errReader{r: ctxReader{ctx, r}}
	info, err := s.client.PutObject(ctx, s.bucket, key, er, -1, minio.PutObjectOptions{
		ContentType: contentType, PartSize: s3PartSize, NumThreads: 1,
		// UNSIGNED-PAYLOAD: no second pass over the bytes for a SHA-256, and no
		// aws-chunked encoding, which some S3-compatible servers mishandle.
		DisableContentSha256: true,
	})
	if er.err != nil {
		if err == nil {
			// Should not happen; never keep an object from a failed read.
			_ = s.client.RemoveObject(context.WithoutCancel(ctx), s.bucket, key, minio.RemoveObjectOptions{})
		}
		return 0, er.err
	}
	if err != nil {
		return 0, err
	}
	return info.Size, nil
}

// errReader remembers the first read error other than io.EOF and reports
// it as errBodyRead, which minio-go does not mistake for the end.
type errReader struct {
	r   io.Reader
	err error
}

var errBodyRead = errors.New("storage: reading the body failed")

func (e *errReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, errBodyRead
	}
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		e.err = err
		return n, errBodyRead
	}
	return n, err
}

// Get implements Backend.
func (s *S3) Get(ctx context.Context, key string, off, length int64) (io.ReadCloser, error) {
	opts := minio.GetObjectOptions{}
	if off > 0 || length >= 0 {
		end := int64(0)
		if length >= 0 {
			end = off + length - 1
		}
		if length == 0 {
			return io.NopCloser(strings.NewReader("")), nil
		}
		if err := opts.SetRange(off, end); err != nil {
			return nil, err
		}
	}
	// GetObject is lazy; Stat first so a missing key is reported here.
	if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err != nil {
		if isS3NotFound(err) {
			return nil, ErrNotExist
		}
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, key, opts)
	if err != nil {
		return nil, err
	}
	return obj, nil
}

// Copy implements Backend.
func (s *S3) Copy(ctx context.Context, src, dst string) error {
	_, err := s.client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: dst},
		minio.CopySrcOptions{Bucket: s.bucket, Object: src})
	if isS3NotFound(err) {
		return ErrNotExist
	}
	return err
}

// Delete implements Backend.
func (s *S3) Delete(ctx context.Context, key string) error {
	err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if isS3NotFound(err) {
		return nil
	}
	return err
}

// Walk implements Backend.
func (s *S3) Walk(ctx context.Context, fn func(string, time.Time) error) error {
	for obj := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			return obj.Err
		}
		if err := fn(obj.Key, obj.LastModified); err != nil {
			return err
		}
	}
	return nil
}

func isS3NotFound(err error) bool {
	if err == nil {
		return false
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) {
		return resp.Code == "NoSuchKey" || resp.StatusCode == 404
	}
	return false
}
