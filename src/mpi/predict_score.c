/*
 * predict_score.c — predict's accuracy on a labelled dataset (predict_score.h).
 */
#include "predict_score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "r50.h"
#include "utf8.h"

enum { UNNAMED = -1, TWICE = -2 }; /* to_model of a class the names lack, or hold twice */

/* A names file's lines and the dataset's class names, as the matching compares them. */
typedef struct names_view {
  const char *const *lines; /* (n) the file's text (a name, or a first word) */
  char **lines_utf8;        /* (n) the same, bytes that are not UTF-8 as \xNN */
  int n;
} names_view;

/* Whether the line i names the dataset class whose name in the HDF5 file is `name`
 * (UTF-8, \xNN for bytes that were not: utf8.h), `field` that name escaped as a
 * field (r50_escape_field): the line as r50worker writes labels.txt (the field), or as
 * a person writes a names file (the folder's own text or bytes, Latin-1 ones too). */
static int names_class(const names_view *v, int i, const char *name, const char *field) {
  const char *line = v->lines[i];
  return line && (!strcmp(line, name) || !strcmp(line, field) ||
                  (v->lines_utf8[i] && !strcmp(v->lines_utf8[i], name)));
}

/* The one line of v that names the class, UNNAMED, or TWICE. */
static int32_t find(const names_view *v, const char *name, const char *field) {
  int32_t at = UNNAMED;
  for (int i = 0; i < v->n; i++)
    if (names_class(v, i, name, field)) {
      if (at != UNNAMED)
        return TWICE;
      at = i;
    }
  return at;
}

static int view_of(names_view *v, const char *const *lines, int n) {
  *v = (names_view){lines, calloc((size_t)n + 1, sizeof(char *)), n};
  for (int i = 0; v->lines_utf8 && i < n; i++)
    if (lines[i] && !r50_utf8_valid(lines[i]) &&
        !(v->lines_utf8[i] = r50_utf8_escaped_dup(lines[i])))
      return -1;
  return v->lines_utf8 ? 0 : -1;
}

static void view_free(names_view *v) {
  for (int i = 0; v->lines_utf8 && i < v->n; i++)
    free(v->lines_utf8[i]);
  free(v->lines_utf8);
}

int r50_predict_score_init(r50_predict_score *s, int classes,
                           const char *const *dataset_names, int n_named,
                           const char *const *label_words, const char *const *label_names,
                           int n_labels) {
  memset(s, 0, sizeof *s);
  s->classes = classes;
  s->n_named = n_named;
  s->dataset_names = dataset_names;
  s->unscored = calloc((size_t)n_named + 1, sizeof *s->unscored);
  s->to_model = malloc(((size_t)n_named + 1) * sizeof *s->to_model);
  names_view names, words;
  int ok = view_of(&names, label_names, n_labels) == 0;
  ok = view_of(&words, label_words, n_labels) == 0 && ok;
  for (int c = 0; ok && s->to_model && c < n_named; c++) {
    char field[8200];
    r50_escape_field(dataset_names[c], field, sizeof field);
    int32_t m = find(&names, dataset_names[c], field); /* "2 zebra fish" */
    if (m == UNNAMED)
      m = find(&words, dataset_names[c], field); /* "n01440764 tench, ..." */
    s->to_model[c] = m >= classes ? UNNAMED : m;
  }
  view_free(&names);
  view_free(&words);
  if (!ok || !s->unscored || !s->to_model) {
    r50_predict_score_free(s);
    return -1;
  }
  return 0;
}

void r50_predict_score_row(r50_predict_score *s, int32_t label, const float *p) {
  if (label < 0)
    return;
  s->labelled++;
  const int named = s->n_named > 0;
  const int32_t m = !named ? label : label < s->n_named ? s->to_model[label] : UNNAMED;
  if (m < 0 || m >= s->classes) {
    s->unscored[named && label < s->n_named ? label : s->n_named]++;
    return;
  }
  int rank = 0; /* classes ranked above m: higher, or as high and first (argmax's) */
  for (int i = 0; i < s->classes && rank < 5; i++)
    rank += p[i] > p[m] || (p[i] == p[m] && i < m);
  s->scored++;
  s->top1 += rank == 0;
  s->top5 += rank < 5;
}

/* The unscored classes, named, into buf: "'a' (3 images, not named), ..." (5 at most). */
static void list_unscored(const r50_predict_score *s, char *buf, size_t cap) {
  size_t len = 0;
  int listed = 0, more = 0;
  buf[0] = 0;
  for (int c = 0; c < s->n_named; c++) {
    if (!s->unscored[c])
      continue;
    if (listed == 5) {
      more++;
      continue;
    }
    int w = snprintf(buf + len, cap - len, "%s'%s' (%lld image%s%s)", listed ? ", " : "",
                     s->dataset_names[c], (long long)s->unscored[c],
                     s->unscored[c] == 1 ? "" : "s",
                     s->to_model[c] == TWICE ? ": the names hold it twice" : "");
    if (w < 0 || (size_t)w >= cap - len)
      break;
    len += (size_t)w, listed++;
  }
  if (more && len < cap)
    snprintf(buf + len, cap - len, " and %d more class%s", more, more == 1 ? "" : "es");
}

int r50_predict_score_shown(const r50_predict_score *s, const char *labels_path) {
  return s->scored > 0 && (!s->n_named || labels_path);
}

void r50_predict_score_report(const r50_predict_score *s, const char *labels_path) {
  if (!s->labelled)
    return;
  if (s->n_named && !labels_path) {
    r50_log(R50_LOG_INFO,
            "%lld of the images carry a class (their folder), but the model's class "
            "names are unknown: give --labels FILE (a fine-tuned run's labels.txt, "
            "synset_words.txt) to score the predictions",
            (long long)s->labelled);
    return;
  }
  if (s->scored) {
    char top5[96] = "";
    if (s->classes > 5)
      snprintf(top5, sizeof top5, ", top-5 %.4f (%lld of %lld)",
               (double)s->top5 / (double)s->scored, (long long)s->top5,
               (long long)s->scored);
    r50_log(R50_LOG_INFO,
            "accuracy on %lld labelled image%s: top-1 %.4f (%lld of %lld)%s",
            (long long)s->scored, s->scored == 1 ? "" : "s",
            (double)s->top1 / (double)s->scored, (long long)s->top1, (long long)s->scored,
            top5);
  }
  const int64_t missed = s->labelled - s->scored;
  if (!missed)
    return;
  if (!s->n_named) {
    r50_log(R50_LOG_WARN,
            "%lld labelled image%s not scored: %s label%s beyond the model's %d classes "
            "(0 to %d)",
            (long long)missed, missed == 1 ? "" : "s", missed == 1 ? "its" : "their",
            missed == 1 ? " is" : "s are", s->classes, s->classes - 1);
    return;
  }
  char list[1024];
  list_unscored(s, list, sizeof list);
  r50_log(R50_LOG_WARN,
          "%lld labelled image%s not scored: %s class%s not one of the model's %d in %s "
          "(a folder is matched to a line's name, or to its first word): %s",
          (long long)missed, missed == 1 ? "" : "s", missed == 1 ? "its" : "their",
          missed == 1 ? " is" : "es are", s->classes, labels_path, list);
}

void r50_predict_score_free(r50_predict_score *s) {
  free(s->to_model);
  free(s->unscored);
  s->to_model = NULL;
  s->unscored = NULL;
}
