package storage

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5"
	"github.com/madbase/madbase/shared/jwtauth"
)

// Signed URL tokens are HS256 JWTs signed with the JWT secret, as upstream:
// {url: "<bucket>/<key>", iat, exp}; upload tokens add owner, upsert and
// scope "upload" (a download token cannot upload, nor the reverse).
const scopeUpload = "upload"

func (h *Handler) signToken(claims jwt.MapClaims) (string, error) {
	if h.project != "" {
		// A signed URL carries no apikey: its ref picks the project.
		claims["ref"] = h.project
	}
	return jwtauth.Sign(h.secret, claims)
}

// verifyToken checks a signed-URL token for bucket/key and scope.
func (h *Handler) verifyToken(tok, bucket, key, scope string) (jwt.MapClaims, error) {
	if tok == "" {
		return nil, newErr(400, codeInvalidJWT, codeInvalidJWT, "Missing token")
	}
	claims, err := h.keys.Verify(tok)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return nil, newErr(400, codeExpiredToken, codeExpiredToken, "jwt expired")
		}
		return nil, newErr(400, codeInvalidJWT, codeInvalidJWT, "invalid signature")
	}
	u, _ := claims["url"].(string)
	sc, _ := claims["scope"].(string)
	if u != bucket+"/"+key || sc != scope {
		return nil, newErr(400, codeInvalidSignature, codeInvalidSignature, "The url do not match the signature")
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return nil, newErr(400, codeInvalidJWT, codeInvalidJWT, "token has no expiry")
	}
	// The verifier's leeway is for clock skew between servers that sign
	// and verify session tokens; a signed URL expires when it says.
	if !time.Now().Before(exp.Time) {
		return nil, newErr(400, codeExpiredToken, codeExpiredToken, "jwt expired")
	}
	return claims, nil
}

func (h *Handler) expiresIn(raw json.RawMessage) (time.Duration, error) {
	var n float64
	if json.Unmarshal(raw, &n) != nil || n < 1 {
		return 0, errBadRequest("expiresIn must be a number of seconds of at least 1")
	}
	d := time.Duration(n) * time.Second
	if maxD := h.cfg.SignedURLMaxExpiry; maxD > 0 && d > maxD {
		return 0, errBadRequest("expiresIn is over the allowed maximum")
	}
	return d, nil
}

// signedURL makes a download URL for bucket/key; with tr, a render URL
// whose token carries the transformation (transformations claim), which
// the token then serves and nothing else.
func (h *Handler) signedURL(bucket, key string, ttl time.Duration, now time.Time, tr *transform) (string, error) {
	claims := jwt.MapClaims{"url": bucket + "/" + key, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	route := "/object/sign/"
	if tr != nil {
		claims["transformations"] = tr.String()
		route = "/render/image/sign/"
	}
	tok, err := h.signToken(claims)
	if err != nil {
		return "", err
	}
	return route + bucket + "/" + key + "?token=" + tok, nil
}

// sign serves POST /object/sign/{bucket}/{key} (one URL) and
// POST /object/sign/{bucket} (many, body {paths}).
func (h *Handler) sign(c *fiber.Ctx) error {
	cl, err := h.auth(c, false)
	if err != nil {
		return err
	}
	raw, err := readSmallBody(c)
	if err != nil {
		return err
	}
	var body struct {
		ExpiresIn json.RawMessage `json:"expiresIn"`
		Paths     []string        `json:"paths"`
		Transform json.RawMessage `json:"transform"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return errBadRequest("Invalid JSON body")
	}
	ttl, err := h.expiresIn(body.ExpiresIn)
	if err != nil {
		return err
	}
	t := tail(c)
	if !strings.Contains(strings.TrimSuffix(t, "/"), "/") {
		return h.signMany(c, cl, strings.TrimSuffix(t, "/"), body.Paths, ttl)
	}
	bucketID, key, perr := parseObjectPath(t)
	if perr != nil {
		return perr
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	if _, err := h.bucket(ctx, bucketID); err != nil {
		return err
	}
	err = h.withClaims(ctx, cl, "storage.object.sign", func(ctx context.Context, tx pgx.Tx) error {
		_, err := loadObject(ctx, tx, bucketID, key)
		return err
	})
	if err != nil {
		return dbError(err, nil)
	}
	var tr *transform
	if h.cfg.ImageTransformation {
		t, ok, err := parseTransformJSON(body.Transform)
		if err != nil {
			return err
		}
		if ok {
			tr = &t
		}
	}
	u, err := h.signedURL(bucketID, key, ttl, time.Now(), tr)
	if err != nil {
		return errInternal(err)
	}
	return c.JSON(fiber.Map{"signedURL": u})
}

type signedItem struct {
	Error     *string `json:"error"`
	Path      string  `json:"path"`
	SignedURL *string `json:"signedURL"`
}

func (h *Handler) signMany(c *fiber.Ctx, cl *caller, bucketID string, paths []string, ttl time.Duration) error {
	if !validBucketName(bucketID) {
		return errInvalidBucket()
	}
	if len(paths) == 0 || len(paths) > 1000 {
		return errBadRequest("paths must have 1 to 1000 items")
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	if _, err := h.bucket(ctx, bucketID); err != nil {
		return err
	}
	found := map[string]bool{}
	err := h.withClaims(ctx, cl, "storage.object.sign", func(ctx context.Context, tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select name from storage.objects where bucket_id = $1 and name = any($2)`, bucketID, paths)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			found[n] = true
		}
		return rows.Err()
	})
	if err != nil {
		return dbError(err, nil)
	}
	now := time.Now()
	out := make([]signedItem, 0, len(paths))
	for _, p := range paths {
		it := signedItem{Path: p}
		if found[p] {
			u, err := h.signedURL(bucketID, p, ttl, now, nil)
			if err != nil {
				return errInternal(err)
			}
			it.SignedURL = &u
		} else {
			msg := "Either the object does not exist or you do not have access to it"
			it.Error = &msg
		}
		out = append(out, it)
	}
	return c.JSON(out)
}

// getSigned serves a signed download URL to anyone holding its token.
// signedObject is what a signed URL names: its token checked against the
// path (a render token only where render is true: it serves its render,
// not the original), the bucket and the object loaded, and the Expires
// header the token's expiry gives.
func (h *Handler) signedObject(c *fiber.Ctx, render bool) (jwt.MapClaims, *object, map[string]string, error) {
	bucketID, key, perr := parseObjectPath(tail(c))
	if perr != nil {
		return nil, nil, nil, perr
	}
	claims, err := h.verifyToken(c.Query("token"), bucketID, key, "")
	if err != nil {
		return nil, nil, nil, err
	}
	if _, ok := claims["transformations"]; ok && !render {
		return nil, nil, nil, newErr(400, codeInvalidSignature, codeInvalidSignature, "The url do not match the signature")
	}
	ctx, cancel := dbCtx(c)
	defer cancel()
	if _, err := h.bucket(ctx, bucketID); err != nil {
		return nil, nil, nil, err
	}
	o, err := loadObject(ctx, h.svc(), bucketID, key)
	if err != nil {
		return nil, nil, nil, err
	}
	extra := map[string]string{}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		extra["Expires"] = exp.UTC().Format(http.TimeFormat)
	}
	return claims, o, extra, nil
}

func (h *Handler) getSigned(c *fiber.Ctx) error {
	_, o, extra, err := h.signedObject(c, false)
	if err != nil {
		return err
	}
	return h.serve(c, o, extra)
}

// createUploadURL checks the caller may write the object now and returns
// a token that lets anyone upload it once within SignedUploadTTL.
func (h *Handler) createUploadURL(c *fiber.Ctx) error {
	cl, bucketID, key, err := h.objectRequest(c, false)
	if err != nil {
		return err
	}
	if _, err := readSmallBody(c); err != nil {
		return err
	}
	upsert := strings.EqualFold(c.Get("x-upsert"), "true")
	ctx, cancel := dbCtx(c)
	defer cancel()
	b, err := h.bucket(ctx, bucketID)
	if err != nil {
		return err
	}
	w := &write{cl: cl, owner: cl, bucket: b, key: key, upsert: upsert, op: "storage.object.upload_sign"}
	if err := h.check(ctx, w, "", 0); err != nil {
		return err
	}
	now := time.Now()
	claims := jwt.MapClaims{"url": bucketID + "/" + key, "scope": scopeUpload, "upsert": upsert,
		"iat": now.Unix(), "exp": now.Add(h.cfg.SignedUploadTTL).Unix()}
	if cl.sub != "" {
		claims["owner"] = cl.sub
	}
	tok, err := h.signToken(claims)
	if err != nil {
		return errInternal(err)
	}
	return c.JSON(fiber.Map{"url": "/object/upload/sign/" + bucketID + "/" + key + "?token=" + tok, "token": tok})
}

// uploadSigned receives an upload on a signed upload URL: the token's
// upsert flag wins over x-upsert, the owner comes from the token, and the
// row is written as service_role (the right was checked at signing).
func (h *Handler) uploadSigned(c *fiber.Ctx) error {
	bucketID, key, perr := parseObjectPath(tail(c))
	if perr != nil {
		return perr
	}
	claims, err := h.verifyToken(c.Query("token"), bucketID, key, scopeUpload)
	if err != nil {
		return err
	}
	upsert, _ := claims["upsert"].(bool)
	owner, _ := claims["owner"].(string)
	ctx, cancel := dbCtx(c)
	b, err := h.bucket(ctx, bucketID)
	cancel()
	if err != nil {
		return err
	}
	u, err := openUpload(c)
	if err != nil {
		return err
	}
	defer u.close()
	svc := &caller{claims: serviceClaims, role: "service_role"}
	own := &caller{sub: owner}
	if _, err := h.store(c, &write{cl: svc, owner: own, bucket: b, key: key, upsert: upsert, op: "storage.object.upload_signed"}, u); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"Key": bucketID + "/" + key})
}
