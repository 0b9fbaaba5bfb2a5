"""Hypothesis strategies for every PS3.8 PDU and item in ``app.net.pdu``, for any test to reuse.

``pdus()`` draws any of the seven PDUs; the per-item strategies are public too.  Everything drawn
survives an encode/decode round trip unchanged (AE titles without leading/trailing spaces, UIDs
without trailing NUL/space, P-DATA with at least one PDV holding ``bytes``).
"""

from __future__ import annotations

from hypothesis import strategies as st

from app.net.pdu import (
    PDU,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AbortSource,
    AReleaseRP,
    AReleaseRQ,
    AsynchronousOperationsWindow,
    ContextResult,
    ItemType,
    PDataTF,
    PresentationContextAC,
    PresentationContextRQ,
    PresentationDataValue,
    RejectResult,
    RejectSource,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    UserIdentityAC,
    UserIdentityRQ,
    UserIdentityType,
    UserInformation,
)

_KNOWN_USER_ITEM_TYPES = {int(t) for t in ItemType if 0x51 <= t <= 0x59}

# PS3.5 9.1: components of digits, no leading zero unless the component is "0", at most 64 characters.
_component = st.one_of(st.just("0"), st.integers(min_value=1, max_value=10**12).map(str))
uids = st.lists(_component, min_size=2, max_size=8).map(".".join).filter(lambda uid: len(uid) <= 64)

# PS3.5 Table 6.2-1 (AE): printable ASCII without backslash; leading/trailing spaces are not significant.
_ae_character = st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="\\")
ae_titles = (
    st.builds(
        lambda first, middle, last: (first + middle + last)[:16],
        _ae_character,
        st.text(st.sampled_from([" ", "A", "B", "_", "1", "-"]), max_size=14),
        st.text(_ae_character, max_size=1),
    )
    .map(lambda title: title.strip(" "))
    .filter(bool)
)

small_bytes = st.binary(max_size=64)
context_ids = st.integers(min_value=1, max_value=255).filter(lambda n: n % 2 == 1)

presentation_contexts_rq = st.builds(
    PresentationContextRQ,
    context_id=context_ids,
    abstract_syntax=uids,
    transfer_syntaxes=st.lists(uids, min_size=1, max_size=4).map(tuple),
)
presentation_contexts_ac = st.builds(
    PresentationContextAC,
    context_id=context_ids,
    result=st.sampled_from(ContextResult),
    transfer_syntax=st.one_of(st.just(""), uids),
)

user_informations = st.builds(
    UserInformation,
    maximum_length=st.one_of(st.none(), st.integers(min_value=0, max_value=0xFFFFFFFF)),
    implementation_class_uid=st.one_of(st.none(), uids),
    implementation_version_name=st.one_of(st.none(), ae_titles),
    asynchronous_operations_window=st.one_of(
        st.none(),
        st.builds(
            AsynchronousOperationsWindow,
            st.integers(min_value=0, max_value=0xFFFF),
            st.integers(min_value=0, max_value=0xFFFF),
        ),
    ),
    role_selections=st.lists(st.builds(RoleSelection, uids, st.booleans(), st.booleans()), max_size=3).map(
        tuple
    ),
    sop_class_extended=st.lists(st.builds(SOPClassExtendedNegotiation, uids, small_bytes), max_size=3).map(
        tuple
    ),
    sop_class_common_extended=st.lists(
        st.builds(SOPClassCommonExtendedNegotiation, uids, uids, st.lists(uids, max_size=3).map(tuple)),
        max_size=2,
    ).map(tuple),
    user_identity_rq=st.one_of(
        st.none(),
        st.builds(UserIdentityRQ, st.sampled_from(UserIdentityType), st.booleans(), small_bytes, small_bytes),
    ),
    user_identity_ac=st.one_of(st.none(), st.builds(UserIdentityAC, small_bytes)),
    unknown_items=st.lists(
        st.tuples(
            st.integers(min_value=0x5A, max_value=0xFF).filter(lambda t: t not in _KNOWN_USER_ITEM_TYPES),
            small_bytes,
        ),
        max_size=2,
    ).map(tuple),
)

associate_rqs = st.builds(
    AAssociateRQ,
    called_ae_title=ae_titles,
    calling_ae_title=ae_titles,
    presentation_contexts=st.lists(presentation_contexts_rq, min_size=1, max_size=5).map(tuple),
    user_information=user_informations,
    application_context=uids,
    protocol_version=st.integers(min_value=0, max_value=0xFFFF),
)
associate_acs = st.builds(
    AAssociateAC,
    called_ae_title=ae_titles,
    calling_ae_title=ae_titles,
    presentation_contexts=st.lists(presentation_contexts_ac, max_size=5).map(tuple),
    user_information=user_informations,
    application_context=uids,
    protocol_version=st.integers(min_value=0, max_value=0xFFFF),
)
associate_rjs = st.builds(
    AAssociateRJ,
    result=st.sampled_from(RejectResult),
    source=st.sampled_from(RejectSource),
    reason=st.integers(min_value=0, max_value=255),
)
presentation_data_values = st.builds(
    PresentationDataValue,
    context_id=context_ids,
    is_command=st.booleans(),
    is_last=st.booleans(),
    data=st.binary(max_size=300),
)
pdata_tfs = st.builds(PDataTF, st.lists(presentation_data_values, min_size=1, max_size=4).map(tuple))
aborts = st.builds(AAbort, st.sampled_from(AbortSource), st.integers(min_value=0, max_value=255))


def pdus() -> st.SearchStrategy[PDU]:
    """Any one of the seven PDUs."""
    return st.one_of(
        associate_rqs,
        associate_acs,
        associate_rjs,
        pdata_tfs,
        st.just(AReleaseRQ()),
        st.just(AReleaseRP()),
        aborts,
    )
