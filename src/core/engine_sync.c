/*
 * engine_sync.c — the host slabs and an engine's own copies of them kept in step.
 *
 * A CPU engine trains on the host slabs themselves (its bind hands them back); a
 * device engine (CUDA) trains on copies in its memory. For those, the model records
 * which side holds the newest bits of each slab:
 *   - parameters and BN persistents: the store's version, the version the engine's
 *     copies hold (eng_version), and which model's engine, if any, wrote them last
 *     (store->newer_in, store->newer);
 *   - gradients and optimizer state: eng_newer (the engine wrote them) and host_newer
 *     (the host did, or may have: a slab handed out for writing).
 * Rule: every host read of a slab pulls it first (r50_model_pull), every host write
 * of parameters or persistents is preceded by a pull and followed by r50_model_touch,
 * and every engine write is reported (r50_model_engine_wrote). r50_model_bind then
 * uploads only what the host changed. For a CPU engine all of this costs a
 * comparison: nothing is ever separate.
 */
#include "error.h"
#include "model.h"

enum { PQ = R50_SYNC_PARAMS | R50_SYNC_PERSISTENT, GS = R50_SYNC_GRADS | R50_SYNC_STATE };

static r50_slabs host_slabs(const r50_model *m) {
  return (r50_slabs){m->params,
                     m->grads,
                     m->persistent,
                     m->velocity,
                     (size_t)m->net.n_param_floats,
                     (size_t)m->net.n_persistent_floats};
}

r50_status r50_model_bind(r50_model *m, r50_slabs *eng, r50_error *err) {
  const r50_engine_train *tr = m->engine->train;
  R50_ASSERT(tr != NULL);
  const r50_slabs host = host_slabs(m);
  R50_TRY(tr->bind(m->es, &host, eng, err));
  m->eng = *eng;
  m->separate = eng->params != host.params;
  if (!m->separate)
    return R50_OK;
  r50_param_store *st = m->store;
  int up = 0;
  if (m->eng_version != st->version) {
    /* the host changed some of them: first fetch what is newer in an engine (this
     * one's persistents, say, when only parameters were written), then upload all */
    R50_TRY(r50_model_pull(m, PQ, err));
    up = PQ;
  }
  up |= m->host_newer & (m->grads ? R50_SYNC_GRADS : 0);
  up |= m->host_newer & (m->velocity ? R50_SYNC_STATE : 0);
  if (up)
    R50_TRY(tr->sync(m->es, 0, up, err));
  m->eng_version = st->version;
  m->host_newer &= ~up;
  return R50_OK;
}

r50_status r50_model_pull(const r50_model *cm, int what, r50_error *err) {
  /* Pulling changes where the bits are, never what they are: the model stays const
   * to its callers. */
  r50_model *m = (r50_model *)cm;
  r50_param_store *st = m->store;
  r50_model *owner = st->newer_in;
  const int pq = what & st->newer;
  if (owner && pq) {
    R50_TRY(owner->engine->train->sync(owner->es, 1, pq, err));
    st->newer &= ~pq;
    if (!st->newer)
      st->newer_in = NULL;
  }
  const int gs = what & m->eng_newer & GS;
  if (gs) {
    R50_TRY(m->engine->train->sync(m->es, 1, gs, err));
    m->eng_newer &= ~gs;
  }
  return R50_OK;
}

void r50_model_pull_or_log(const r50_model *m, int what) {
  r50_error err = {0};
  if (r50_model_pull(m, what, &err) != R50_OK)
    r50_log(R50_LOG_ERROR, "reading the model's slabs back from the %s engine: %s",
            m->engine->name, err.msg);
}

void r50_model_engine_wrote(r50_model *m, int what) {
  if (what & PQ)
    r50_model_touch(m);
  if (!m->separate)
    return;
  r50_param_store *st = m->store;
  if (what & PQ) {
    m->eng_version = st->version; /* the engine holds the new version */
    st->newer_in = m;
    st->newer |= what & PQ;
  }
  m->eng_newer |= what & GS;
  m->host_newer &= ~(what & GS);
}

void r50_model_host_wrote(r50_model *m, int what) {
  m->host_newer |= what & GS;
  m->eng_newer &= ~(what & GS);
}

r50_status r50_model_pull_all(r50_model *m, r50_error *err) {
  return r50_model_pull(m, PQ | GS, err);
}
