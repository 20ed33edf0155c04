/*
 * fs: the FUSE view (quarantine/, projects/, export/). This header is the module's
 * whole public interface; today it offers the naming rules the tree is built with.
 */
#ifndef FIONA_FS_H
#define FIONA_FS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/core.h"

/* Longest name component fiona produces (bytes, without the NUL); below NAME_MAX so a
 * uniqueness suffix always fits. */
#define FS_NAME_MAX 200

/*
 * Writes a safe directory-entry name for a value taken from a DICOM header into out
 * (cap >= FS_NAME_MAX + 1): '/', control characters, DEL and bytes >= 0x80 become '_';
 * leading dots and spaces are dropped (no hidden files, no "." or ".."), as are trailing
 * spaces and dots; the result is cut to FS_NAME_MAX bytes; an empty result is "unknown".
 * Returns the length written. Nothing a sender puts in a header can leave its folder.
 */
size_t fs_name_sanitize(const char *in, size_t in_len, char *out, size_t cap);

/* "<SeriesNumber>_<Modality>_<SeriesDescription>", or without the description when it is
 * empty (Clean Descriptors may remove it); each part sanitized. series_number < 0 means
 * absent and is written as "0". Returns the length. */
size_t fs_name_series(long series_number, const char *modality, const char *description, char *out,
		      size_t cap);
/* The series folders under projects/ and export/: "<SeriesNumber>_<text>", the text being
 * the de-identified description when it is not empty, else the labels without the one
 * naming the modality ("MR,DWI" -> "DWI"), else the modality; sanitized, with spaces as
 * '_' ("3_T1_MPRAGE"). Callers give only values the de-identified files carry. Returns
 * the length. */
size_t fs_name_series_readable(long series_number, const char *modality, const char *description,
			       const char *labels, char *out, size_t cap);
/* "<InstanceNumber>.dcm", zero-padded to 4 digits so `ls` sorts like the scanner;
 * instance_number < 0 means absent and is written as "0000". */
size_t fs_name_instance(long instance_number, char *out, size_t cap);

/*
 * Makes names unique within one folder, deterministically: the first "x" stays "x",
 * the next ones become "x~2", "x~3", ... in the order they are added (the caller adds in
 * catalog order, so names are stable across restarts). Before the extension for ".dcm"
 * names: "12~2.dcm".
 */
struct fs_nameset;
/* Returns 0 and a new set (free with fs_nameset_free()) or -ENOMEM. */
int fs_nameset_new(struct fs_nameset **out);
void fs_nameset_free(struct fs_nameset *s);
/* Rewrites name in place (cap >= FS_NAME_MAX + 1 + 12) to a name not yet in the set and
 * adds it. 0, -ENOMEM, or -ENAMETOOLONG if cap is too small. */
int fs_nameset_add(struct fs_nameset *s, char *name, size_t cap);

/* Takes the members that could identify (patient, institution, station, device serial,
 * physicians, dates, comments) out of a dcm2niix BIDS sidecar in place (fs/nifti_view.c;
 * docs/export.md): one member per line as dcm2niix writes it. Returns how many went
 * (*out_len the new length), or -EINVAL when such a member spans lines (refused: the
 * sidecar is not kept). */
int fs_nifti_sidecar_strip(char *json, size_t len, size_t *out_len);

/* ---- the mount (fs/mount.c, tree.c, ops.c) ----------------------------------------- */
#include "store/store.h"

struct fs_mount;
/*
 * Mounts the tree of SPEC.md "The mount" at cfg->mount_point (allow_other,
 * default_permissions) and serves it from its own threads until fs_mount_stop(). A stale
 * FUSE mount left by a crash is unmounted first. cfg, store and log are borrowed for the
 * mount's life. Returns 0 and a new mount, or a negative errno (logged): -ENODEV when the
 * machine has no /dev/fuse.
 */
int fs_mount_start(const struct fiona_config *cfg, struct store *store, struct fiona_log *log,
		   struct fs_mount **out);
/* Unmounts, waits for the threads and frees the mount; NULL is fine. */
void fs_mount_stop(struct fs_mount *m);

#endif
