/*
 * predict_score.h — how well `predict` did on a labelled dataset: top-1 and top-5
 * accuracy of the done rows whose image carries a class (an ImageFolder tree's folder,
 * a list file's label), as a user evaluating a model on a test set wants it.
 *
 * Rule: a list file's labels are the model's class indices (as finetune takes them); an
 * ImageFolder tree's classes are matched to the model's classes by name, through the
 * names file (--labels, or a fine-tuned run's labels.txt): a folder named as a line's
 * name ("2 zebra fish": "zebra fish") or its first word (synset_words.txt's
 * "n01440764 tench, Tinca tinca": "n01440764", the folders of ImageNet's validation
 * set), never by the position of the folder among the tree's own. Images of a class
 * the names do not hold, or hold twice, are not scored, and said so.
 */
#ifndef R50_PREDICT_SCORE_H
#define R50_PREDICT_SCORE_H

#include <stdint.h>

typedef struct r50_predict_score {
  int classes; /* the model's */
  int n_named; /* the dataset's class names (0: its labels are class indices) */
  const char *const *dataset_names; /* (n_named) borrowed */
  int32_t *to_model; /* (n_named) dataset class -> model class; -1: unmatched */
  int64_t *unscored; /* (n_named + 1) images not scored, by dataset class; the last:
                        labels outside the model's classes (list files) */
  int64_t labelled, scored, top1, top5;
} r50_predict_score;

/* Sets s up. dataset_names: the file's class names (NULL, 0: none); label_words and
 * label_names: the names file's lines, first word and the text after it (NULL, 0: no
 * names file). Returns 0, or -1 out of memory. */
int r50_predict_score_init(r50_predict_score *s, int classes,
                           const char *const *dataset_names, int n_named,
                           const char *const *label_words, const char *const *label_names,
                           int n_labels);

/* One done row: its label (-1: none) and its class probabilities (classes of them). */
void r50_predict_score_row(r50_predict_score *s, int32_t label, const float *p);

/* Logs the accuracy (rank 0's stderr), and what was not scored and why; labels_path
 * names the names file in the messages (NULL: none was given or found). */
void r50_predict_score_report(const r50_predict_score *s, const char *labels_path);

/* Whether the report gives an accuracy: some image was scored (by name, when the
 * names file is known). */
int r50_predict_score_shown(const r50_predict_score *s, const char *labels_path);

void r50_predict_score_free(r50_predict_score *s);

#endif
