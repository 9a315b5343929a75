//! Room aliases: the directory endpoints, `createRoom` with `room_alias_name`, joining by
//! alias and a room's alias list, with their error paths.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::rooms::{create_room, join};
use crate::support::{Response, Session, TestNode, assert_error};

const V3: &str = "/_matrix/client/v3";

/// The path of an alias in the directory; `#` must be escaped in a URL.
fn directory_path(alias: &str) -> String {
    format!("{V3}/directory/room/{}", alias.replace('#', "%23"))
}

async fn put_alias(node: &TestNode, session: &Session, alias: &str, room_id: &str) -> Response {
    node.put(
        &directory_path(alias),
        Some(&session.token),
        json!({ "room_id": room_id }),
    )
    .await
}

async fn delete_alias(node: &TestNode, session: &Session, alias: &str) -> Response {
    node.call(
        Method::DELETE,
        &directory_path(alias),
        Some(&session.token),
        None,
    )
    .await
}

async fn room_aliases(node: &TestNode, session: &Session, room_id: &str) -> Response {
    node.get(
        &format!("{V3}/rooms/{room_id}/aliases"),
        Some(&session.token),
    )
    .await
}

async fn joined_rooms(node: &TestNode, session: &Session) -> Vec<Value> {
    let response = node
        .get(&format!("{V3}/joined_rooms"), Some(&session.token))
        .await;
    response.body["joined_rooms"].as_array().unwrap().clone()
}

#[tokio::test]
async fn create_room_with_an_alias_names_it_and_others_join_by_the_alias() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let alias = format!("#deck:{}", node.server_name);
    let room_id = create_room(
        &node,
        &alice,
        json!({"preset": "public_chat", "room_alias_name": "deck"}),
    )
    .await;
    let canonical = node
        .get(
            &format!("{V3}/rooms/{room_id}/state/m.room.canonical_alias"),
            Some(&alice.token),
        )
        .await;
    assert_eq!(canonical.body, json!({ "alias": alias }));

    let resolved = node.get(&directory_path(&alias), None).await;
    assert_eq!(resolved.status, StatusCode::OK, "{}", resolved.body);
    assert_eq!(
        resolved.body,
        json!({"room_id": room_id, "servers": [node.server_name]})
    );
    let joined = join(&node, &bob, &alias.replace('#', "%23")).await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["room_id"], room_id.as_str());
    assert_eq!(joined_rooms(&node, &bob).await, vec![json!(room_id)]);
    let listed = room_aliases(&node, &bob, &room_id).await;
    assert_eq!(listed.body, json!({ "aliases": [alias] }));
}

#[tokio::test]
async fn create_room_refuses_a_taken_or_malformed_alias_before_making_a_room() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    create_room(&node, &alice, json!({"room_alias_name": "deck"})).await;
    let again = node
        .post(
            &format!("{V3}/createRoom"),
            Some(&alice.token),
            json!({"room_alias_name": "deck"}),
        )
        .await;
    assert_error(&again, StatusCode::BAD_REQUEST, "M_ROOM_IN_USE");
    for bad in ["", "a:b", "two words", "tab\there"] {
        let response = node
            .post(
                &format!("{V3}/createRoom"),
                Some(&alice.token),
                json!({ "room_alias_name": bad }),
            )
            .await;
        assert_error(&response, StatusCode::BAD_REQUEST, "M_INVALID_PARAM");
    }
    let response = node
        .post(
            &format!("{V3}/createRoom"),
            Some(&alice.token),
            json!({ "room_alias_name": 7 }),
        )
        .await;
    assert_error(&response, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    assert_eq!(joined_rooms(&node, &alice).await.len(), 1);
}

#[tokio::test]
async fn directory_aliases_are_added_by_members_and_are_unique() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let room_id = create_room(&node, &alice, json!({})).await;
    let alias = format!("#bridge:{}", node.server_name);
    let added = put_alias(&node, &alice, &alias, &room_id).await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert_eq!(added.body, json!({}));
    assert_error(
        &put_alias(&node, &alice, &alias, &room_id).await,
        StatusCode::CONFLICT,
        "M_ROOM_IN_USE",
    );
    let other = format!("#galley:{}", node.server_name);
    assert_error(
        &put_alias(&node, &bob, &other, &room_id).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let unknown_room = format!("!nowhere:{}", node.server_name);
    assert_error(
        &put_alias(&node, &alice, &other, &unknown_room).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    for (bad_alias, bad_room) in [
        ("#galley:elsewhere.example", room_id.as_str()),
        ("galley", room_id.as_str()),
        ("#:x", room_id.as_str()),
        (other.as_str(), "not-a-room"),
    ] {
        assert_error(
            &put_alias(&node, &alice, bad_alias, bad_room).await,
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
        );
    }
    let no_room_id = node
        .put(&directory_path(&other), Some(&alice.token), json!({}))
        .await;
    assert_error(&no_room_id, StatusCode::BAD_REQUEST, "M_BAD_JSON");
    let anonymous = node
        .call(Method::PUT, &directory_path(&other), None, None)
        .await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
    assert_error(
        &node.get(&directory_path(&other), None).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &node.get(&directory_path("no-hash"), None).await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    let listed = room_aliases(&node, &alice, &room_id).await;
    assert_eq!(listed.body, json!({ "aliases": [alias] }));
}

#[tokio::test]
async fn aliases_are_removed_by_their_creator_a_moderator_or_an_admin() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let carol = node.register("carol").await;
    let room_id = create_room(&node, &alice, json!({"preset": "public_chat"})).await;
    assert_eq!(join(&node, &bob, &room_id).await.status, StatusCode::OK);
    let alices = format!("#alices:{}", node.server_name);
    let bobs = format!("#bobs:{}", node.server_name);
    let bobs_spare = format!("#bobs-spare:{}", node.server_name);
    let carols = format!("#carols:{}", node.server_name);
    for (session, alias) in [
        (&alice, &alices),
        (&bob, &bobs),
        (&bob, &bobs_spare),
        (&alice, &carols),
    ] {
        let added = put_alias(&node, session, alias, &room_id).await;
        assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    }
    assert_error(
        &delete_alias(&node, &bob, &alices).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    // The creator without power, the room's creator as a moderator, and the alias's creator.
    for (session, alias) in [(&bob, &bobs), (&alice, &bobs_spare), (&alice, &alices)] {
        let deleted = delete_alias(&node, session, alias).await;
        assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
        assert_eq!(deleted.body, json!({}));
    }
    node.database()
        .execute(
            "UPDATE users SET is_admin = 1 WHERE user_id = ?1",
            [&carol.user_id],
        )
        .unwrap();
    let by_admin = delete_alias(&node, &carol, &carols).await;
    assert_eq!(by_admin.status, StatusCode::OK, "{}", by_admin.body);
    assert_error(
        &delete_alias(&node, &alice, &alices).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    assert_error(
        &delete_alias(&node, &alice, "#x:elsewhere.example").await,
        StatusCode::BAD_REQUEST,
        "M_INVALID_PARAM",
    );
    assert_error(
        &join(&node, &carol, &alices.replace('#', "%23")).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    let listed = room_aliases(&node, &bob, &room_id).await;
    assert_eq!(listed.body, json!({ "aliases": [] }));
}

#[tokio::test]
async fn a_rooms_aliases_are_for_members_unless_it_is_world_readable() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let bob = node.register("bob").await;
    let private = create_room(&node, &alice, json!({"room_alias_name": "private"})).await;
    assert_error(
        &room_aliases(&node, &bob, &private).await,
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
    );
    let readable = create_room(
        &node,
        &alice,
        json!({
            "room_alias_name": "readable",
            "initial_state": [{
                "type": "m.room.history_visibility",
                "content": {"history_visibility": "world_readable"},
            }],
        }),
    )
    .await;
    let listed = room_aliases(&node, &bob, &readable).await;
    assert_eq!(
        listed.body,
        json!({ "aliases": [format!("#readable:{}", node.server_name)] })
    );
    let unknown = format!("!nowhere:{}", node.server_name);
    assert_error(
        &room_aliases(&node, &alice, &unknown).await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
}

#[tokio::test]
async fn a_canonical_alias_may_add_only_aliases_of_the_room() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({"room_alias_name": "deck"})).await;
    create_room(&node, &alice, json!({"room_alias_name": "hold"})).await;
    let deck = format!("#deck:{}", node.server_name);
    let galley = format!("#galley:{}", node.server_name);
    let hold = format!("#hold:{}", node.server_name);
    let put_canonical = |content: Value| {
        let path = format!("{V3}/rooms/{room_id}/state/m.room.canonical_alias");
        let token = alice.token.clone();
        let node = &node;
        async move { node.put(&path, Some(&token), content).await }
    };
    for (content, errcode) in [
        (
            json!({"alias": deck, "alt_aliases": [galley]}),
            "M_BAD_ALIAS",
        ),
        (json!({"alias": hold}), "M_BAD_ALIAS"),
        (json!({"alias": "#far:elsewhere.example"}), "M_BAD_ALIAS"),
        (json!({"alias": "deck"}), "M_INVALID_PARAM"),
        (json!({"alias": 7}), "M_INVALID_PARAM"),
        (
            json!({"alias": deck, "alt_aliases": galley}),
            "M_INVALID_PARAM",
        ),
        (json!({"alt_aliases": [1]}), "M_INVALID_PARAM"),
    ] {
        assert_error(
            &put_canonical(content).await,
            StatusCode::BAD_REQUEST,
            errcode,
        );
    }
    assert_eq!(
        put_alias(&node, &alice, &galley, &room_id).await.status,
        StatusCode::OK
    );
    let with_galley = json!({"alias": deck, "alt_aliases": [galley]});
    let accepted = put_canonical(with_galley.clone()).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    // Aliases the room already lists may stay even once they no longer resolve.
    assert_eq!(
        delete_alias(&node, &alice, &galley).await.status,
        StatusCode::OK
    );
    let kept = put_canonical(with_galley).await;
    assert_eq!(kept.status, StatusCode::OK, "{}", kept.body);
    let cleared = put_canonical(json!({})).await;
    assert_eq!(cleared.status, StatusCode::OK, "{}", cleared.body);
}

#[tokio::test]
async fn rooms_are_private_in_the_directory_the_node_does_not_publish() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    let room_id = create_room(&node, &alice, json!({"visibility": "public"})).await;
    let path = format!("{V3}/directory/list/room/{room_id}");
    // No access token needed.
    let listed = node.get(&path, None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body, json!({"visibility": "private"}));
    assert_error(
        &node
            .get(&format!("{V3}/directory/list/room/!nowhere"), None)
            .await,
        StatusCode::NOT_FOUND,
        "M_NOT_FOUND",
    );
    // With no directory to publish in, a room cannot be listed.
    assert_error(
        &node
            .put(&path, Some(&alice.token), json!({"visibility": "public"}))
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "M_UNRECOGNIZED",
    );
}

#[tokio::test]
async fn the_public_room_list_is_empty_since_nothing_is_published() {
    let node = TestNode::new();
    let alice = node.register("alice").await;
    create_room(
        &node,
        &alice,
        json!({"preset": "public_chat", "visibility": "public"}),
    )
    .await;
    let empty = json!({"chunk": [], "total_room_count_estimate": 0});
    let listed = node.get(&format!("{V3}/publicRooms"), None).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.body, empty);
    let searched = node
        .post(
            &format!("{V3}/publicRooms"),
            Some(&alice.token),
            json!({"filter": {"generic_search_term": "deck"}, "limit": 10}),
        )
        .await;
    assert_eq!(searched.status, StatusCode::OK);
    assert_eq!(searched.body, empty);
    let anonymous = node
        .post(&format!("{V3}/publicRooms"), None, json!({}))
        .await;
    assert_error(&anonymous, StatusCode::UNAUTHORIZED, "M_MISSING_TOKEN");
}
