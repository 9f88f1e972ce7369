"""Registered variants of the IoV slicing market (paper 002, MARKETS §3).

Other arguments (``n_vsps`` 10-50, ``tax``, ``mechanism``, ``M``, ``colluders``, the estimators)
are passed to ``make``, e.g. ``make("auction_envs/IoVSlicing-v0", n_vsps=30, tax="nvi")``.
"""

from auction_envs.registration import register

ENTRY_POINT = "auction_envs.envs.iov.env:IoVSlicingEnv"


def register_variants() -> None:
    register("auction_envs/IoVSlicing-v0", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "dvcg", "allocator": "optimum"},
             description="IoV slicing, DVCG auction with a bank, NSP allocates the exact optimum "
                         "(10 VSP bidders; paper 002)")
    register("auction_envs/IoVSlicingLearned-v0", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "dvcg", "allocator": "learned",
                     "slicer_reward": "bids"},
             description="IoV slicing, DVCG; NSP slicing agents learn the allocation "
                         "(reward sum of bids, paper (27); slicer_reward='welfare' too)")
    register("auction_envs/IoVSlicingNVI-v0", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "dvcg", "tax": "nvi", "colluders": (0, 1)},
             description="IoV slicing, NVI-DVCG ablation (no VC interest), VSPs 0 and 1 collude")
    register("auction_envs/IoVSlicingQVCG-v0", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "qvcg", "M": 20},
             description="IoV slicing, QVCG-0.05 (Ge & Berry; M=20 quantization, reports once)")
    register("auction_envs/IoVSlicingVCG-v0", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "vcg"},
             description="IoV slicing, plain VCG with full information (bid = scaled report)")
