"""The stand-in platform APIs (the seed's ``mock-apis`` service), for tests, the demo and the bench.

Facebook Pages and Instagram (mockapis.graph), X v2 (mockapis.x), LinkedIn Posts/Images
(mockapis.linkedin) and a media file server (mockapis.media) answer in the real platforms' shapes
(docs/platforms/); mockapis.control and mockapis.client steer them; mockapis.state keeps
what they remember. Mounted under ``/mock/`` by planrrr/urls.py when MOCK_APIS_ENABLED, or served
at the root by ``manage.py run_mock_apis``: base URLs ``<base>/graph``, ``<base>/x``,
``<base>/linkedin``, ``<base>/media/<name>``, ``<base>/_control/``.
"""
