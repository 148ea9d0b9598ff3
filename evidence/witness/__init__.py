"""A witness: cosigns checkpoints of logs it follows, refusing forks and rollbacks
(c2sp.org/tlog-witness), so that no operator can show two histories.

Its rooms, in the order a request meets them:

* :mod:`.app`       the HTTP edge (``POST /add-checkpoint``, ``GET /info``);
* :mod:`.protocol`  the request body, parsed as hostile input;
* :mod:`.cosigner`  :class:`~.cosigner.Witness`: the key and state on disk, and the
  add-checkpoint operation (decide inside one write transaction, then cosign);
* :mod:`.core`      the decision itself, pure: a log's record and a request in, the new
  record or a :class:`~.core.Refusal` out;
* :mod:`.store`     the state: one SQLite file, one row per followed log;
* :mod:`.loglist`, :mod:`.lists`  witness-network.org log lists, and following them.
"""
