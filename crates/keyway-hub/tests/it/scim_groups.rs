//! SCIM 2.0 groups over HTTP (`/scim/v2/Groups`, docs/scim.md): members, renames, the
//! built-in `keyway-admins` group, and concurrent PATCHes that lose no update.

use reqwest::Method;
use serde_json::json;

use crate::harness::{TestHub, on_every_backend};
use crate::scim::{GROUP, Scim};

#[tokio::test]
async fn groups_members_renames_and_the_admins_group() {
    on_every_backend(async |hub: &TestHub| {
        let scim = Scim::new(hub).await;
        let ada = scim.user("ada").await["id"].as_str().unwrap().to_string();
        let bob = scim.user("bob").await["id"].as_str().unwrap().to_string();
        let made = scim
            .post(
                "/Groups",
                json!({"schemas": [GROUP], "displayName": "ops", "externalId": "g-1",
                                    "members": [{"value": ada}]}),
            )
            .await;
        assert_eq!(made.status, 201, "{}", made.body);
        let gid = made.body["id"].as_str().unwrap().to_string();
        assert_eq!(made.body["members"][0]["display"], "ada");
        assert_eq!(
            made.body["members"][0]["$ref"],
            hub.url(&format!("/scim/v2/Users/{ada}"))
        );
        hub.auth
            .grant_group_scopes("ops", "reports.read")
            .await
            .unwrap();
        // The user's read-only groups.
        let user = scim.get(&format!("/Users/{ada}")).await;
        assert_eq!(
            user.body["groups"],
            json!([{"value": gid, "display": "ops",
            "$ref": hub.url(&format!("/scim/v2/Groups/{gid}"))}])
        );
        // Members by PATCH, with a value filter.
        let added = scim
            .patch(
                &format!("/Groups/{gid}"),
                json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]),
            )
            .await;
        assert_eq!(
            added.body["members"].as_array().unwrap().len(),
            2,
            "{}",
            added.body
        );
        let removed = scim
            .patch(
                &format!("/Groups/{gid}"),
                json!([{"op": "remove", "path": format!("members[value eq \"{ada}\"]")}]),
            )
            .await;
        assert_eq!(
            removed.body["members"],
            json!([{"value": bob, "display": "bob", "type": "User",
            "$ref": hub.url(&format!("/scim/v2/Users/{bob}"))}])
        );
        let ghost = scim
            .patch(
                &format!("/Groups/{gid}"),
                json!([{"op": "add", "path": "members", "value": [{"value": "nobody"}]}]),
            )
            .await;
        ghost.error(400, Some("invalidValue"));
        let filtered = scim
            .get(&format!("/Groups?filter=members%20eq%20%22{bob}%22"))
            .await;
        assert_eq!(filtered.body["totalResults"], 1, "{}", filtered.body);
        // A rename keeps the id, the members and the scope grants.
        let renamed = scim
            .patch(
                &format!("/Groups/{gid}"),
                json!([{"op": "replace", "path": "displayName", "value": "operations"}]),
            )
            .await;
        assert_eq!(renamed.status, 200, "{}", renamed.body);
        assert_eq!(renamed.body["id"], gid);
        assert_eq!(
            hub.auth.group_scopes("operations").await.unwrap(),
            ["reports.read"]
        );
        assert_eq!(
            hub.auth.show_group("operations").await.unwrap().members,
            ["bob"]
        );
        scim.post(
            "/Groups",
            json!({"schemas": [GROUP], "displayName": "operations"}),
        )
        .await
        .error(409, Some("uniqueness"));

        // keyway-admins: members may be provisioned (that is the scim scope's power), the
        // group itself is neither renamed, taken by a rename, nor deleted.
        hub.auth
            .add_group_member("keyway-admins", "ada")
            .await
            .unwrap();
        let admins = scim
            .get("/Groups?filter=displayName%20eq%20%22keyway-admins%22")
            .await;
        let aid = admins.body["Resources"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let more = scim
            .patch(
                &format!("/Groups/{aid}"),
                json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]),
            )
            .await;
        assert_eq!(more.status, 200, "{}", more.body);
        assert!(hub.auth.is_admin(&bob).await.unwrap());
        scim.patch(
            &format!("/Groups/{aid}"),
            json!([{"op": "replace", "path": "displayName", "value": "root"}]),
        )
        .await
        .error(400, Some("mutability"));
        scim.patch(
            &format!("/Groups/{gid}"),
            json!([{"op": "replace", "path": "displayName", "value": "keyway-admins"}]),
        )
        .await
        .error(400, Some("mutability"));
        scim.send(Method::DELETE, &format!("/Groups/{aid}"), None, &[])
            .await
            .error(403, None);
        assert!(hub.auth.show_group("keyway-admins").await.is_ok());
        // Deleting a group takes its memberships and grants with it; users stay.
        let gone = scim
            .send(Method::DELETE, &format!("/Groups/{gid}"), None, &[])
            .await;
        assert_eq!(gone.status, 204);
        assert!(
            hub.auth
                .group_scopes("operations")
                .await
                .unwrap()
                .is_empty()
        );
        scim.get(&format!("/Groups/{gid}")).await.error(404, None);
        assert_eq!(
            scim.get(&format!("/Users/{bob}")).await.body["groups"][0]["display"],
            "keyway-admins"
        );
    })
    .await;
}

/// Parallel PATCHes without If-Match to one group: each is applied or answered 412, never
/// lost (every write is conditional on the version it read, and retried from a fresh read).
#[tokio::test]
async fn parallel_patches_lose_no_update() {
    on_every_backend(async |hub: &TestHub| {
        let scim = Scim::new(hub).await;
        let group = scim
            .post(
                "/Groups",
                json!({"schemas": [GROUP], "displayName": "crowd"}),
            )
            .await;
        let gid = group.body["id"].as_str().unwrap().to_string();
        let mut ids = Vec::new();
        for n in 0..6 {
            ids.push(
                scim.user(&format!("p{n}")).await["id"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let path = format!("/Groups/{gid}");
        let answers = futures_join(ids.iter().map(|id| {
            scim.patch(
                &path,
                json!([{"op": "add", "path": "members", "value": [{"value": id}]}]),
            )
        }))
        .await;
        let mut applied: Vec<&str> = Vec::new();
        for (id, answer) in ids.iter().zip(&answers) {
            match answer.status {
                200 => applied.push(id),
                412 => answer.error(412, None),
                other => panic!("{other}: {}", answer.body),
            }
        }
        assert!(!applied.is_empty());
        let members = scim.get(&path).await.body["members"].clone();
        let mut held: Vec<&str> = members
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["value"].as_str().unwrap())
            .collect();
        held.sort_unstable();
        applied.sort_unstable();
        assert_eq!(held, applied);
    })
    .await;
}

/// Runs futures concurrently and returns their outputs in order.
async fn futures_join<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    futures_util::future::join_all(futures).await
}
