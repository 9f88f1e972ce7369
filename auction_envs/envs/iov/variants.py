"""Registered variants of the IoV slicing market (paper 002, MARKETS §3).

Other arguments (``n_vsps`` 10-50, ``tax``, ``mechanism``, ``M``, ``colluders``, ``instance_seed``,
``perturbation_scale``, the estimators) are passed to ``make``, e.g.
``make("auction_envs/IoVSlicing-v1", n_vsps=30, tax="nvi")``. v1: see the env's Version History.
"""

from auction_envs.registration import register

ENTRY_POINT = "auction_envs.envs.iov.env:IoVSlicingEnv"


def register_variants() -> None:
    register("auction_envs/IoVSlicing-v1", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "dvcg", "allocator": "optimum"},
             description="IoV slicing, DVCG auction with a bank, NSP allocates the exact optimum "
                         "(10 VSP bidders; paper 002)")
    register("auction_envs/IoVSlicingLearned-v1", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "dvcg", "allocator": "learned",
                     "slicer_reward": "welfare"},
             description="IoV slicing, DVCG; NSP slicing agents learn the allocation "
                         "(reward: the welfare; slicer_reward='bids' is paper (27))")
    register("auction_envs/IoVSlicingNVI-v1", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "dvcg", "tax": "nvi", "colluders": (0, 1)},
             description="IoV slicing, NVI-DVCG ablation (no VC interest), VSPs 0 and 1 collude")
    register("auction_envs/IoVSlicingQVCG-v1", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "qvcg", "M": 20},
             description="IoV slicing, QVCG-0.05 (Ge & Berry; M=20 quantization, reports once)")
    register("auction_envs/IoVSlicingVCG-v1", ENTRY_POINT,
             kwargs={"n_vsps": 10, "mechanism": "vcg"},
             description="IoV slicing, plain VCG with full information (bid = scaled report)")
